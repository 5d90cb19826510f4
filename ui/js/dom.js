// Small DOM helpers for the screens: element building, money, dialogs, notices.

/**
 * Builds an element: h("button", {class: "x", onclick: f}, "text", child).
 * Attributes starting with "on" become listeners; `null`/`false` attributes are left out.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Integer cents as money, e.g. 2497 -> "$24.97". */
export function money(cents) {
  const sign = cents < 0 ? "-" : "";
  const value = Math.abs(Math.round(cents));
  return `${sign}$${Math.floor(value / 100)}.${String(value % 100).padStart(2, "0")}`;
}

/** "24.97" or "24,97" or "25" -> cents; NaN when it is not an amount. */
export function parseCents(text) {
  const match = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!match) return NaN;
  return Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0"));
}

/** A short local date and time of an ISO-8601 text. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

/** The page's notice line (role=alert): a message a person can act on, or nothing. */
export function notice(text, kind = "warn") {
  const element = document.getElementById("notice");
  if (!text) {
    element.hidden = true;
    element.textContent = "";
    return;
  }
  element.className = "notice" + (kind === "bad" ? " bad" : "");
  element.textContent = text;
  element.hidden = false;
}

/**
 * A modal dialog (the native <dialog>: it traps focus and closes on Escape). `build` gets a
 * `close(value)` function and returns the dialog's content; resolves with the closing value
 * (undefined on Escape).
 */
export function modal(label, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": label });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.append(build(close));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("[autofocus], input, textarea, select, button");
    if (first) first.focus();
  });
}
