// The manager's screen: fraud alerts to acknowledge (new ones pushed live), age-verification
// violations, and an employee's time entries with day and week totals.
import { gql, liveURL } from "./api.js";
import { LiveClient } from "./graphql-ws.js";
import { h, fill, when, notice } from "./dom.js";

export function mount(main, context) {
  const alertRows = h("tbody", { id: "alert-rows" });
  const violationRows = h("tbody", { id: "violation-rows" });
  const employeeSelect = h("select", { id: "time-employee", "aria-label": "Employee" });
  const from = h("input", { id: "time-from", type: "date", "aria-label": "From" });
  const to = h("input", { id: "time-to", type: "date", "aria-label": "To" });
  const timeBody = h("div", { id: "time-entries" });
  const onlyOpen = h("input", { id: "only-open", type: "checkbox", checked: true });
  const today = new Date();
  to.value = today.toISOString().slice(0, 10);
  from.value = new Date(today.getTime() - 6 * 86400000).toISOString().slice(0, 10);

  fill(
    main,
    h("h1", {}, "Manager"),
    h(
      "div",
      { class: "stack" },
      h(
        "section",
        { class: "card", "aria-labelledby": "alerts-title" },
        h("div", { class: "row", style: "justify-content:space-between" }, h("h2", { id: "alerts-title" }, "Fraud alerts"), h("label", { for: "only-open" }, onlyOpen, " unacknowledged only")),
        h("table", { "aria-label": "Fraud alerts" }, h("thead", {}, h("tr", {}, ["Raised", "Rule", "Till", "Basket", ""].map((name) => h("th", { scope: "col" }, name)))), alertRows),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "violations-title" },
        h("h2", { id: "violations-title" }, "Age-verification violations"),
        h("table", { "aria-label": "Age-verification violations" }, h("thead", {}, h("tr", {}, ["When", "Basket", "Why", "Age"].map((name) => h("th", { scope: "col" }, name)))), violationRows),
      ),
    ),
    h(
      "section",
      { class: "card", style: "margin-top:14px", "aria-labelledby": "time-title" },
      h("h2", { id: "time-title" }, "Time entries"),
      h("div", { class: "row" }, employeeSelect, from, to, h("button", { id: "time-show", onclick: () => loadTime() }, "Show")),
      timeBody,
    ),
  );

  async function loadAlerts() {
    try {
      const data = await gql("query($u: Boolean) { fraudAlerts(unacknowledged: $u) { alertId ruleId severity terminalId basketId employeeId raisedAt acknowledged acknowledgedBy } }", { u: onlyOpen.checked });
      fill(
        alertRows,
        data.fraudAlerts.length
          ? data.fraudAlerts.map((alert) =>
              h(
                "tr",
                { id: `alert-${alert.alertId}`, dataset: { basket: alert.basketId || "" } },
                h("td", {}, when(alert.raisedAt)),
                h("td", {}, `${alert.ruleId.replaceAll("_", " ")} (${alert.severity})`),
                h("td", {}, alert.terminalId || ""),
                h("td", {}, alert.basketId || ""),
                h("td", {}, alert.acknowledged ? `by ${alert.acknowledgedBy}` : h("button", { class: "acknowledge", "aria-label": `Acknowledge ${alert.ruleId} on ${alert.basketId || alert.terminalId}`, onclick: () => acknowledge(alert) }, "Acknowledge")),
              ),
            )
          : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No alerts.")),
      );
    } catch (error) {
      if (!context.failed(error)) fill(alertRows, h("tr", {}, h("td", { colspan: 5, class: "error" }, error.message)));
    }
  }

  async function acknowledge(alert) {
    try {
      await gql("mutation($a: String!) { acknowledgeFraudAlert(alertId: $a) { alertId acknowledged } }", { a: alert.alertId });
      notice("");
      await loadAlerts();
      document.querySelector("#alert-rows button") ? document.querySelector("#alert-rows button").focus() : onlyOpen.focus();
    } catch (error) {
      if (!context.failed(error)) notice(error.message, "bad");
    }
  }

  async function loadViolations() {
    try {
      const data = await gql("query { ageViolations { basketId reason reasons at minimumAge method } }");
      fill(
        violationRows,
        data.ageViolations.length
          ? data.ageViolations.map((violation) =>
              h("tr", {}, h("td", {}, when(violation.at)), h("td", {}, violation.basketId), h("td", {}, [...new Set([violation.reason, ...violation.reasons].filter(Boolean))].join(", ").toLowerCase().replaceAll("_", " ")), h("td", {}, violation.minimumAge ? `${violation.minimumAge}+` : "")),
            )
          : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No violations.")),
      );
    } catch (error) {
      if (!context.failed(error)) fill(violationRows, h("tr", {}, h("td", { colspan: 4, class: "error" }, error.message)));
    }
  }

  async function loadEmployees() {
    try {
      const data = await gql("query { employees { id name role } }");
      fill(employeeSelect, data.employees.map((employee) => h("option", { value: employee.id, selected: employee.id === context.session.employee.id }, `${employee.name} (${employee.role.toLowerCase()})`)));
      await loadTime();
    } catch (error) {
      context.failed(error);
    }
  }

  async function loadTime() {
    try {
      const data = await gql(
        "query($e: Int, $f: String, $t: String) { myTimeEntries(employeeId: $e, from: $f, to: $t) { entries { terminalId clockIn clockOut totalHours closedBy } hoursPerDay { period hours } hoursPerWeek { period hours } } }",
        { e: Number(employeeSelect.value), f: from.value || null, t: to.value || null },
      );
      const sheet = data.myTimeEntries;
      fill(
        timeBody,
        h(
          "table",
          { "aria-label": "Time entries", id: "time-table" },
          h("thead", {}, h("tr", {}, ["Till", "In", "Out", "Hours", "Closed by"].map((name) => h("th", { scope: "col" }, name)))),
          h("tbody", {}, sheet.entries.length ? sheet.entries.map((entry) => h("tr", {}, h("td", {}, entry.terminalId), h("td", {}, when(entry.clockIn)), h("td", {}, entry.clockOut ? when(entry.clockOut) : "open"), h("td", { class: "num" }, entry.totalHours != null ? entry.totalHours.toFixed(2) : "–"), h("td", {}, entry.closedBy || ""))) : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No entries in this period."))),
        ),
        h("p", { id: "time-totals" }, "Per day: ", sheet.hoursPerDay.map((day) => `${day.period} ${day.hours.toFixed(2)} h`).join(" · ") || "–", h("br"), "Per week: ", sheet.hoursPerWeek.map((week) => `${week.period} ${week.hours.toFixed(2)} h`).join(" · ") || "–"),
      );
    } catch (error) {
      if (!context.failed(error)) fill(timeBody, h("p", { class: "error" }, error.message));
    }
  }

  // New alerts arrive live; the list is read again (it is the plugin's, with acknowledgements).
  const link = document.getElementById("link");
  const live = new LiveClient(liveURL(), () => context.session.token, {
    onStatus(value) {
      link.dataset.state = value;
      link.textContent = value;
    },
  });
  const stop = live.subscribe("subscription($after: String) { storeFraudAlerts(after: $after) { id cursor type basketId } }", {}, { next: () => loadAlerts() });
  onlyOpen.addEventListener("change", loadAlerts);
  employeeSelect.addEventListener("change", loadTime);
  loadAlerts();
  loadViolations();
  loadEmployees();
  return () => {
    stop();
    live.close();
  };
}
