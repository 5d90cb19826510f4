// The plugin admin page: every plugin with its state, health, version and counters (what
// `pluginctl status` shows), enable/disable (ADMIN), settings in a form generated from the
// plugin's JSON Schema with the server's validation, and the audit trail. Changes go through
// the same configuration store as pluginctl, so each sees the other's; the list refreshes
// every 2 s.
import { gql, ApiError } from "./api.js";
import { h, fill, notice } from "./dom.js";
import { schemaForm } from "./schema-form.js";

const PLUGIN = "id name enabled isolation config configVersion updatedBy state version lastError configError subscriptions handled failed deadLettered queueDepth lag settingsSchema defaultSettings";

export function mount(main, context) {
  const admin = context.session.employee.role === "ADMIN";
  const table = h("tbody", { id: "plugin-rows" });
  const details = h("section", { id: "plugin-details", class: "card", hidden: true, "aria-live": "polite" });
  const updated = h("p", { class: "muted", id: "plugins-updated", role: "status" });
  fill(
    main,
    h("h1", {}, "Plugins"),
    admin ? null : h("p", { class: "muted" }, "Only an admin can change plugins; this is what they run."),
    h(
      "div",
      { class: "card" },
      h(
        "table",
        { "aria-label": "Plugins" },
        h("thead", {}, h("tr", {}, ["Plugin", "State", "Version", "Handled", "Failed", "Dead letters", "Queue", "Lag", ""].map((name, index) => h("th", { class: index >= 3 && index <= 7 ? "num" : null, scope: "col" }, name)))),
        table,
      ),
      updated,
    ),
    details,
  );

  let plugins = [];
  let open = null;
  let stopped = false;
  let timer = null;

  async function refresh() {
    try {
      const data = await gql(`query { plugins { ${PLUGIN} } }`);
      plugins = data.plugins;
      render();
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!context.failed(error)) updated.textContent = `Could not refresh: ${error.message}`;
    } finally {
      if (!stopped) timer = setTimeout(refresh, 2000);
    }
  }

  function render() {
    // The list is redrawn every 2 s: keep the focused button focused.
    const focused = table.contains(document.activeElement) ? document.activeElement.id : null;
    fill(
      table,
      plugins.map((plugin) =>
        h(
          "tr",
          { id: `plugin-${plugin.name}`, dataset: { state: plugin.state || "unknown", enabled: String(plugin.enabled) } },
          h("th", { scope: "row" }, plugin.name, plugin.lastError ? h("div", { class: "field-error" }, plugin.lastError) : null, plugin.configError ? h("div", { class: "field-error" }, plugin.configError) : null),
          h("td", { class: `state-${plugin.state || "unknown"}` }, plugin.state || (plugin.enabled ? "no host" : "disabled")),
          h("td", {}, plugin.version || "–"),
          ...[plugin.handled, plugin.failed, plugin.deadLettered, plugin.queueDepth, plugin.lag].map((value) => h("td", { class: "num" }, value ?? "–")),
          h(
            "td",
            {},
            h("div", { class: "row nowrap" },
            admin
              ? h("button", { class: plugin.enabled ? "danger toggle" : "toggle", id: `toggle-${plugin.name}`, "aria-label": `${plugin.enabled ? "Disable" : "Enable"} ${plugin.name}`, onclick: () => toggle(plugin) }, plugin.enabled ? "Disable" : "Enable")
              : null,
            h("button", { class: "secondary", id: `settings-${plugin.name}`, "aria-expanded": open === plugin.name ? "true" : "false", "aria-controls": "plugin-details", onclick: () => show(plugin.name) }, "Settings")),
          ),
        ),
      ),
    );
    if (focused) document.getElementById(focused)?.focus();
  }

  async function toggle(plugin) {
    try {
      const data = await gql(`mutation($id: ID!, $on: Boolean) { updatePlugin(id: $id, enabled: $on) { ${PLUGIN} } }`, { id: plugin.name, on: !plugin.enabled });
      plugins = plugins.map((other) => (other.name === plugin.name ? data.updatePlugin : other));
      notice("");
      render();
      document.getElementById(`toggle-${plugin.name}`)?.focus();
      if (open === plugin.name) show(plugin.name, true);
    } catch (error) {
      if (!context.failed(error)) notice(error.message, "bad");
    }
  }

  async function show(name, keep = false) {
    if (open === name && !keep) {
      open = null;
      details.hidden = true;
      render();
      return;
    }
    open = name;
    render();
    const plugin = plugins.find((candidate) => candidate.name === name);
    const schema = plugin.settingsSchema ? JSON.parse(plugin.settingsSchema) : null;
    const current = { ...(plugin.defaultSettings ? JSON.parse(plugin.defaultSettings) : {}), ...JSON.parse(plugin.config || "{}") };
    const form = schemaForm(schema, current, `setting-${name}`);
    const message = h("p", { id: "settings-message", role: "status" });
    const save = h("button", { type: "submit", id: "save-settings", disabled: !admin }, "Save settings");
    const audit = h("ol", { id: "audit", reversed: true });
    const element = h(
      "form",
      { class: "plugin-settings", "aria-label": `${name} settings`, novalidate: true },
      h("h2", {}, `${name} · settings`),
      plugin.subscriptions.length ? h("p", { class: "muted" }, "Receives: ", plugin.subscriptions.join(", ")) : null,
      schema ? null : h("p", { class: "muted" }, plugin.version ? "This plugin declares no schema: any JSON object." : "No host runs this plugin now, so its schema is not known; settings cannot be checked."),
      form.element,
      h("div", { class: "row" }, save),
      message,
      h("h2", {}, "Audit trail"),
      audit,
    );
    element.addEventListener("submit", async (event) => {
      event.preventDefault();
      const read = form.read();
      if (read.errors) {
        form.showErrors(read.errors);
        message.textContent = "Fix the settings marked above; nothing was saved.";
        return;
      }
      save.disabled = true;
      message.textContent = "Saving…";
      try {
        // Only what differs from the plugin's defaults is stored, so a later version's new
        // defaults still apply to everything the admin did not set.
        const defaults = plugin.defaultSettings ? JSON.parse(plugin.defaultSettings) : {};
        const changed = difference(read.value, defaults) || {};
        const data = await gql(`mutation($id: ID!, $c: String) { updatePlugin(id: $id, config: $c) { ${PLUGIN} } }`, { id: name, c: JSON.stringify(changed) });
        plugins = plugins.map((other) => (other.name === name ? data.updatePlugin : other));
        form.showErrors([]);
        message.textContent = `Saved (configuration version ${data.updatePlugin.configVersion}); every host applies it.`;
        loadAudit(name, audit);
      } catch (error) {
        if (context.failed(error)) return;
        if (error instanceof ApiError && error.extensions.violations) {
          form.showErrors(JSON.parse(error.extensions.violations));
          message.textContent = "The plugin rejects these settings; nothing was saved.";
        } else message.textContent = error.message;
      } finally {
        save.disabled = !admin;
      }
    });
    fill(details, element);
    details.hidden = false;
    loadAudit(name, audit);
  }

  async function loadAudit(name, list) {
    if (!admin) return fill(list, h("li", { class: "muted" }, "The audit trail is for admins."));
    try {
      const data = await gql("query($id: String!) { pluginAudit(id: $id) { version changedBy change } }", { id: name });
      fill(list, data.pluginAudit.slice().reverse().map((entry) => h("li", {}, h("strong", {}, `v${entry.version}`), ` ${entry.changedBy}: `, h("code", {}, entry.change))));
    } catch (error) {
      if (!context.failed(error)) fill(list, h("li", { class: "error" }, error.message));
    }
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The parts of `value` that differ from `defaults` (objects compared member by member). */
function difference(value, defaults) {
  const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (!isObject(value) || !isObject(defaults)) return JSON.stringify(value) === JSON.stringify(defaults) ? undefined : value;
  const result = {};
  for (const [name, member] of Object.entries(value)) {
    const changed = difference(member, defaults[name]);
    if (changed !== undefined) result[name] = changed;
  }
  return Object.keys(result).length ? result : undefined;
}
