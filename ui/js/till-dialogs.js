// The till's dialogs: the age check, the customer, a manager's approval, and the payment.
// Each is a native modal <dialog> (focus stays inside, Escape cancels) that resolves with
// what it decided.
import { gql, retrying, ApiError } from "./api.js";
import { h, fill, modal, money, parseCents } from "./dom.js";

/**
 * The age check: an age, a date of birth, or the text an ID scanner reads (AAMVA, pasted or
 * scanned into the field). Shows age_verification's verdict; resolves when closed, with
 * whether the customer was verified.
 */
export function ageDialog({ basket, gate, me, terminalId, failed }) {
  let verified = false;  // closing by Escape after a verdict still reports it
  return modal("Verify age", (close) => {
    const methods = [
      { id: "scan", label: "ID scan", method: "ID_SCAN" },
      { id: "dob", label: "Date of birth", method: "DATE_OF_BIRTH" },
      { id: "age", label: "Age", method: "MANUAL_CHECK" },
    ];
    let chosen = methods[0];
    const idScan = h("textarea", { id: "age-scan", "aria-label": "ID scan text (scan the licence barcode or paste its text)", spellcheck: "false" });
    const dateOfBirth = h("input", { id: "age-dob", type: "date", "aria-label": "Date of birth" });
    const age = h("input", { id: "age-years", type: "number", min: "0", max: "130", inputmode: "numeric", "aria-label": "Age in years" });
    const inputs = { scan: idScan, dob: dateOfBirth, age };
    const panel = h("div", { role: "tabpanel", id: "age-panel" });
    const verdict = h("p", { class: "verdict", id: "age-verdict", role: "status", "aria-live": "polite" });
    const check = h("button", { id: "age-check", type: "submit" }, "Check");
    const done = h("button", { class: "secondary", type: "button", onclick: () => close(verdict.dataset.verified === "true") }, "Close");
    const tabs = h(
      "div",
      { class: "tabs", role: "tablist", "aria-label": "How the age is checked" },
      methods.map((item) => h("button", { type: "button", role: "tab", id: `age-tab-${item.id}`, "aria-controls": "age-panel", onclick: () => select(item) }, item.label)),
    );
    function select(item) {
      chosen = item;
      for (const button of tabs.children) button.setAttribute("aria-selected", button.id === `age-tab-${item.id}` ? "true" : "false");
      fill(panel, h("label", { for: inputs[item.id].id }, inputs[item.id].getAttribute("aria-label")), inputs[item.id]);
      inputs[item.id].focus();
    }
    tabs.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const index = methods.indexOf(chosen) + (event.key === "ArrowRight" ? 1 : -1);
      select(methods[(index + methods.length) % methods.length]);
    });
    const form = h(
      "form",
      {},
      h("h2", {}, "Verify age"),
      h("p", {}, gate && gate.minimumAge ? `The customer must be ${gate.minimumAge} or older.` : "Check the customer's age."),
      tabs, panel, verdict,
      h("div", { class: "actions" }, done, check),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = inputs[chosen.id].value.trim();
      if (!value) {
        verdict.textContent = "Enter the customer's details first.";
        return;
      }
      const variables = { b: basket.id, e: me.id, t: terminalId, m: chosen.method, age: null, dob: null, scan: null };
      if (chosen.id === "age") variables.age = Number(value);
      if (chosen.id === "dob") variables.dob = value;
      if (chosen.id === "scan") variables.scan = inputs.scan.value;
      check.disabled = true;
      verdict.textContent = "Checking…";
      try {
        const data = await gql(
          "mutation($b: String!, $e: Int, $t: String, $m: String, $age: Int, $dob: String, $scan: String) { verifyAge(basketId: $b, verifierEmployeeId: $e, terminalId: $t, verificationMethod: $m, customerAge: $age, dateOfBirth: $dob, idScan: $scan) { verified reason method } }",
          variables,
        );
        const result = data.verifyAge;
        verdict.dataset.verified = String(result.verified);
        verified = result.verified;
        verdict.className = "verdict " + (result.verified ? "" : "error");
        verdict.textContent = result.verified ? "Verified: the customer may buy these items." : `Not verified: ${readable(result.reason)}.`;
        inputs.scan.value = "";  // the ID's text stays nowhere
        if (result.verified) done.focus();
      } catch (error) {
        if (failed(error)) return close(false);
        verdict.className = "verdict error";
        verdict.textContent = error.message;
      } finally {
        check.disabled = false;
      }
    });
    queueMicrotask(() => select(chosen));
    return form;
  }).then(() => verified);
}

function readable(reason) {
  return String(reason || "refused").toLowerCase().replaceAll("_", " ");
}

/** Asks for a loyalty card, phone, e-mail or customer id; resolves with it or nothing. */
export function customerDialog() {
  return modal("Customer", (close) => {
    const input = h("input", { id: "customer-identifier", autocomplete: "off", required: true, autofocus: true });
    const form = h(
      "form",
      {},
      h("h2", {}, "Customer"),
      h("label", { for: "customer-identifier" }, "Loyalty card, phone, e-mail or customer id"),
      input,
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(null) }, "Cancel"), h("button", { type: "submit", id: "customer-ok" }, "Use")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      close(input.value.trim() || null);
    });
    return form;
  });
}

/** A manager's username and password for one action; resolves with them or nothing. */
export function approvalDialog(why) {
  return modal("Manager approval", (close) => {
    const username = h("input", { id: "approver-username", autocomplete: "off", required: true, autofocus: true });
    const password = h("input", { id: "approver-password", type: "password", autocomplete: "off", required: true });
    const form = h(
      "form",
      {},
      h("h2", {}, "Manager approval"),
      h("p", {}, why),
      h("label", { for: "approver-username" }, "Manager"), username,
      h("label", { for: "approver-password" }, "Password"), password,
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(null) }, "Cancel"), h("button", { type: "submit", id: "approve" }, "Approve")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      close({ username: username.value.trim(), password: password.value });
    });
    return form;
  });
}

/**
 * The payment: cash (with change), card, or split between them. The idempotency key is made
 * when the dialog opens and kept for every retry, so a double press or a lost connection
 * never pays twice. A refusal says why; a fraud block can go ahead with a manager's approval.
 * Resolves with the payment, `{verifyAgeFirst: true}` when the age check refused it, or
 * nothing when cancelled.
 */
export function paymentDialog({ basket, terminalId, failed }) {
  const key = crypto.randomUUID();
  return modal("Payment", (close) => {
    const total = basket.totalCents;
    const tenders = [];
    const rows = h("div", { id: "tenders" });
    const summary = h("p", { id: "pay-summary", role: "status", "aria-live": "polite" });
    const error = h("p", { class: "error", id: "pay-error", role: "alert" });
    const override = h("div", { id: "override", hidden: true });
    const overrideUser = h("input", { id: "override-username", autocomplete: "off", "aria-label": "Manager" });
    const overridePassword = h("input", { id: "override-password", type: "password", autocomplete: "off", "aria-label": "Manager password" });
    fill(override, h("label", { for: "override-username" }, "Manager"), overrideUser, h("label", { for: "override-password" }, "Manager password"), overridePassword);
    const submit = h("button", { type: "submit", id: "pay-submit" }, "Take payment");

    function addTender(method, cents) {
      const amount = h("input", { class: "tender-amount", inputmode: "decimal", value: (cents / 100).toFixed(2), "aria-label": `${method} amount` });
      const tendered = h("input", { class: "tender-given", inputmode: "decimal", value: (cents / 100).toFixed(2), "aria-label": method === "CASH" ? "Cash given" : "Card amount", disabled: method === "CARD" });
      const tender = { method, amount, tendered };
      const remove = h("button", { type: "button", class: "secondary", "aria-label": `Remove the ${method.toLowerCase()} tender`, onclick: () => { tenders.splice(tenders.indexOf(tender), 1); row.remove(); update(); } }, "×");
      const row = h("div", { class: "tender" }, h("strong", {}, method === "CASH" ? "Cash" : "Card"), amount, tendered, remove);
      amount.addEventListener("input", () => {
        if (method === "CARD") tendered.value = amount.value;
        update();
      });
      tendered.addEventListener("input", update);
      tenders.push(tender);
      rows.append(row);
      update();
      (method === "CASH" ? tendered : amount).select();
      return tender;
    }

    function remaining() {
      return total - tenders.reduce((sum, tender) => sum + (parseCents(tender.amount.value) || 0), 0);
    }

    function update() {
      const left = remaining();
      const cash = tenders.find((tender) => tender.method === "CASH");
      const change = cash ? Math.max(0, (parseCents(cash.tendered.value) || 0) - (parseCents(cash.amount.value) || 0)) : 0;
      summary.textContent = left > 0 ? `Still to pay: ${money(left)}` : left < 0 ? `Over the total by ${money(-left)}` : change > 0 ? `Change: ${money(change)}` : "Paid in full";
      summary.dataset.change = String(change);
    }

    function splitWith(method) {
      const left = Math.max(0, remaining());
      addTender(method, left);
    }

    const form = h(
      "form",
      { "aria-labelledby": "pay-title" },
      h("h2", { id: "pay-title" }, "Payment · ", h("span", { id: "pay-total" }, money(total))),
      h("div", { class: "tender muted" }, h("span", {}, ""), h("span", {}, "Amount"), h("span", {}, "Given"), h("span", {}, "")),
      rows,
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", id: "add-cash", onclick: () => splitWith("CASH") }, "+ Cash"),
        h("button", { type: "button", class: "secondary", id: "add-card", onclick: () => splitWith("CARD") }, "+ Card")),
      summary, override, error,
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(null) }, "Cancel (Esc)"), submit),
    );

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      if (remaining() !== 0) {
        error.textContent = remaining() > 0 ? `The tenders do not cover the total: ${money(remaining())} left.` : "The tenders are more than the total; give change from the cash instead.";
        return;
      }
      const input = tenders.map((tender) => ({
        method: tender.method,
        amount: (parseCents(tender.amount.value) || 0) / 100,
        tendered: tender.method === "CASH" ? (parseCents(tender.tendered.value) || 0) / 100 : undefined,
      }));
      if (input.some((tender) => tender.method === "CASH" && tender.tendered < tender.amount)) {
        error.textContent = "The cash given is less than its amount.";
        return;
      }
      submit.disabled = true;
      try {
        const data = await retrying(
          () =>
            gql(
              "mutation($b: String!, $t: String, $total: Float, $tenders: [TenderInput!], $k: String, $u: String, $p: String) { processPayment(basketId: $b, terminalId: $t, totalAmount: $total, tenders: $tenders, idempotencyKey: $k, overrideUsername: $u, overridePassword: $p) { success basketId totalCents changeCents paymentMethod receiptUrl fraudDecision overriddenBy } }",
              { b: basket.id, t: terminalId, total: total / 100, tenders: input, k: key, u: overrideUser.value.trim() || null, p: overridePassword.value || null },
            ),
          { onWait: () => (error.textContent = "Connection lost: retrying this same payment (it cannot be charged twice)…") },
        );
        close(data.processPayment);
      } catch (failure) {
        if (failed(failure)) return close(null);
        error.textContent = explain(failure);
        if (failure instanceof ApiError && failure.extensions.reason === "FRAUD_BLOCK") {
          override.hidden = false;
          overrideUser.focus();
        } else if (failure instanceof ApiError && failure.extensions.plugin === "age_verification") {
          close({ verifyAgeFirst: true });
        }
      } finally {
        submit.disabled = false;
      }
    });
    queueMicrotask(() => addTender("CASH", total));
    return form;
  });
}

/** A refusal as a person can act on it. */
function explain(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  const facts = error.extensions;
  switch (error.code) {
    case "PAYMENT_REFUSED":
      if (facts.reason === "FRAUD_BLOCK") return `Blocked by fraud checks (${String(facts.rules || "rules").replaceAll(",", ", ")}). A manager can approve it below.`;
      if (facts.plugin === "age_verification") return "Age-restricted items are not verified yet: verify the customer's age first.";
      return `Refused: ${error.message}`;
    case "BAD_USER_INPUT":
      return facts.totalCents != null ? `The total changed: it is now ${money(facts.totalCents)}. Check the basket and pay again.` : error.message;
    case "DECISION_PENDING":
    case "UNAVAILABLE":
      return `${error.message} Try again in a moment.`;
    default:
      return error.message;
  }
}
