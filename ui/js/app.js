// The browser app: sign-in, then the screens a role may use, chosen by the address's hash
// (#/till, #/manager, #/admin). Each screen is a module exporting `mount(main, context)`
// which returns a function that unmounts it.
import { gql, session, onLink, ApiError } from "./api.js";
import { h, fill, notice } from "./dom.js";

const SCREENS = [
  { path: "till", title: "Till", minimum: "CASHIER", load: () => import("./till.js") },
  { path: "manager", title: "Manager", minimum: "MANAGER", load: () => import("./manager.js") },
  { path: "admin", title: "Plugins", minimum: "MANAGER", load: () => import("./admin.js") },
];
const RANK = { CASHIER: 1, MANAGER: 2, ADMIN: 3 };
const TERMINAL_KEY = "pos.terminal";

const main = document.getElementById("main");
let unmount = null;
let routing = 0;

/** Shows `hash`: through the hashchange event when it changes, at once when it does not. */
function go(hash, reason) {
  if (location.hash === hash) route(reason);
  else {
    pendingReason = reason;
    location.hash = hash;
  }
}
let pendingReason;

let linkBefore = null;
onLink((state) => {
  const link = document.getElementById("link");
  if (state === "offline") {
    linkBefore = { state: link.dataset.state, text: link.textContent };
    notice("Connection to the server lost. Retrying; the basket is kept on the server.", "bad");
    link.dataset.state = "offline";
    link.textContent = "offline";
  } else {
    notice("");
    // The live pushes' own status comes back with them; until then, what it said before.
    if (linkBefore && link.dataset.state === "offline") {
      link.dataset.state = linkBefore.state || "";
      link.textContent = linkBefore.text;
    }
  }
});

/** Signs out locally (and on the server when it still answers), back to the sign-in screen. */
async function signOut(reason) {
  const current = session.get();
  session.set(null);
  if (current) {
    try {
      await gql("mutation($t: String) { logout(terminalId: $t) { success } }", { t: current.terminalId }, { token: current.token });
    } catch {
      // The session may already have ended (signed in elsewhere): nothing to undo.
    }
  }
  go("#/login", reason);
}

function renderLogin(reason) {
  const terminal = localStorage.getItem(TERMINAL_KEY) || "TERM001";
  const error = h("p", { class: "error", role: "alert", id: "login-error" }, reason || "");
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const terminalInput = h("input", { id: "terminal", name: "terminal", value: terminal, required: true, pattern: "[A-Za-z0-9_\\-]{1,32}" });
  const submit = h("button", { type: "submit", id: "sign-in" }, "Sign in");
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("label", { for: "username" }, "Username"), username,
    h("label", { for: "password" }, "Password"), password,
    h("label", { for: "terminal" }, "Terminal"), terminalInput,
    submit, error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const data = await gql(
        "mutation($u: String!, $p: String!, $t: String) { login(username: $u, password: $p, terminalId: $t) { token expiresAt employee { id code username name role } terminal { terminalId } } }",
        { u: username.value.trim(), p: password.value, t: terminalInput.value.trim() },
        { token: null },
      );
      const login = data.login;
      localStorage.setItem(TERMINAL_KEY, login.terminal.terminalId);
      session.set({ token: login.token, employee: login.employee, terminalId: login.terminal.terminalId, expiresAt: login.expiresAt });
      go("#/till");
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.code === "RATE_LIMITED" ? "Too many failed sign-ins; wait and try again." : failure.message;
      submit.disabled = false;
      password.select();
    }
  });
  fill(main, form);
  username.focus();
}

function renderNav(current, employee) {
  const nav = document.getElementById("nav");
  fill(
    nav,
    SCREENS.filter((screen) => employee && RANK[employee.role] >= RANK[screen.minimum]).map((screen) =>
      h("a", { href: "#/" + screen.path, "aria-current": screen.path === current ? "page" : null }, screen.title),
    ),
  );
  const who = document.getElementById("who");
  fill(
    who,
    employee ? [`${employee.name} (${employee.role.toLowerCase()}) · ${session.get()?.terminalId || ""} `, h("button", { class: "secondary", id: "sign-out", onclick: () => signOut() }, "Sign out")] : [],
  );
}

/** Shows the screen the hash names, or the sign-in screen. */
export async function route(reason = pendingReason) {
  pendingReason = undefined;
  const generation = ++routing;
  if (unmount) {
    unmount();
    unmount = null;
  }
  const current = session.get();
  const path = (location.hash.replace(/^#\/?/, "") || "till").split("?")[0];
  if (!current || path === "login") {
    renderNav(null, null);
    document.getElementById("link").textContent = "";
    return renderLogin(reason);
  }
  const screen = SCREENS.find((candidate) => candidate.path === path) || SCREENS[0];
  if (RANK[current.employee.role] < RANK[screen.minimum]) return go("#/till");
  renderNav(screen.path, current.employee);
  document.title = `POS · ${screen.title}`;
  const module = await screen.load();
  // Another route started while the module loaded: it shows its screen, not this one.
  if (generation !== routing) return;
  fill(main);
  unmount = module.mount(main, {
    session: current,
    signOut,
    /** A request refused because the session ended: back to sign-in with the reason. */
    failed(error) {
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        signOut(error.message);
        return true;
      }
      return false;
    },
  });
}

window.addEventListener("hashchange", () => route());
route();
