// The cashier screen: scan or search, the basket with totals from the server, held age-
// restricted items and the age check, live fraud alerts and recommendations, payment, receipt.
// Driven from the keyboard (the legend at the bottom lists every key); focus always returns
// to the scan field.
import { gql, retrying, liveURL, ApiError } from "./api.js";
import { LiveClient } from "./graphql-ws.js";
import { h, fill, money, notice } from "./dom.js";
import { ageDialog, customerDialog, approvalDialog, paymentDialog } from "./till-dialogs.js";

const BASKET = `id status terminalId customerIdentifier
  customer { customerId name tier loyaltyPoints }
  items { id productId productName quantity unitPriceCents lineTotalCents ageRestricted minimumAge }
  itemCount subtotalCents taxCents totalCents`;

const KEYS = [
  ["F2", "scan / search"], ["Enter", "add"], ["3*", "quantity 3"], ["F3", "customer"], ["F6", "basket lines"],
  ["+ −", "quantity"], ["Del", "remove line"], ["F7", "suggestions"], ["F8", "verify age"], ["F9", "pay"], ["F10", "sign out"], ["Esc", "back to scan"],
];

export function mount(main, context) {
  const me = context.session.employee;
  const terminalId = context.session.terminalId;
  const state = { basket: null, gate: null, results: [], selectedResult: -1, selectedLine: -1, suggestions: [], alerts: [], busy: false, dialog: false };

  // --- Layout -------------------------------------------------------------------------------
  const scan = h("input", {
    id: "scan", type: "search", autocomplete: "off", "aria-label": "Scan a barcode or search products (F2)",
    placeholder: "Scan or type a product (F2)", role: "combobox", "aria-controls": "results", "aria-expanded": "false",
  });
  const results = h("ul", { id: "results", class: "results", role: "listbox", "aria-label": "Products found" });
  const suggestions = h("ul", { id: "suggestions", class: "suggestions", role: "listbox", tabindex: "0", "aria-label": "Suggested products (F7)" });
  const customerBox = h("div", { id: "customer" });
  const banners = h("div", { id: "banners", "aria-live": "polite" });
  const lines = h("ul", { id: "lines", class: "lines", role: "listbox", tabindex: "0", "aria-label": "Basket lines (F6)" });
  const totals = h("div", { id: "totals", class: "totals", "aria-live": "polite" });
  const status = h("p", { id: "till-status", class: "muted", role: "status" });
  const payButton = h("button", { id: "pay", onclick: () => pay() }, "Pay (F9)");
  const ageButton = h("button", { id: "verify-age", class: "secondary", onclick: () => verifyAge() }, "Verify age (F8)");
  const customerButton = h("button", { id: "identify", class: "secondary", onclick: () => identify() }, "Customer (F3)");
  const view = h(
    "section",
    { class: "till", "aria-label": "Till" },
    h(
      "div",
      {},
      h("div", { class: "card scan" }, h("label", { for: "scan" }, "Scan or search"), scan, results),
      h("div", { class: "card", style: "margin-top:14px" }, h("h2", { id: "suggestions-title" }, "Suggestions"), suggestions),
    ),
    h(
      "div",
      {},
      banners,
      h(
        "div",
        { class: "card" },
        h("div", { class: "row", style: "justify-content:space-between" }, h("h2", { id: "basket-title" }, "Basket"), h("span", { id: "basket-id", class: "muted" })),
        customerBox, lines, totals,
        h("div", { class: "row", style: "margin-top:12px" }, payButton, ageButton, customerButton),
        status,
      ),
    ),
  );
  const legend = h("p", { class: "keys", "aria-label": "Keyboard" }, KEYS.map(([key, what]) => h("span", {}, h("kbd", {}, key), " ", what)));
  const thanks = h("section", { id: "thanks", class: "thanks card", hidden: true, "aria-live": "polite" });
  fill(main, view, thanks, legend);

  // --- Live pushes ----------------------------------------------------------------------------
  const link = document.getElementById("link");
  const live = new LiveClient(liveURL(), () => context.session.token, {
    onStatus(value, detail) {
      link.dataset.state = value;
      link.textContent = value === "live" ? "live" : value === "closed" ? "live pushes stopped" : value;
      // Back after a break: the server has the truth; read the basket again.
      if (value === "live" && state.wasDown) {
        state.wasDown = false;
        reload();
      }
      if (value === "reconnecting") state.wasDown = true;
      if (value === "closed" && detail) status.textContent = `Live pushes stopped: ${detail}`;
    },
  });
  const stopTerminal = live.subscribe(
    "subscription($t: String!, $after: String) { terminalEvents(terminalId: $t, after: $after) { id cursor type basketId payload } }",
    { t: terminalId },
    { next: (data) => pushed(data.terminalEvents), error: (errors) => liveFailed(errors) },
  );
  let stopSuggestions = null;

  function liveFailed(errors) {
    const first = Array.isArray(errors) ? errors[0] : errors;
    if (first && String(first.extensions?.code) === "4401") context.signOut("Your session ended; sign in again.");
  }

  function pushed(event) {
    let payload = {};
    try {
      payload = JSON.parse(event.payload);
    } catch {
      // A payload that is not JSON carries nothing this screen shows.
    }
    switch (event.type) {
      case "SESSION_TERMINATED":
        context.signOut(`Signed out: ${payload.reason === "auto_logout" ? "you signed in on another terminal" : payload.reason || "the session ended"}.`);
        break;
      case "FRAUD_ALERT":
        if (!state.basket || !event.basketId || event.basketId === state.basket.id) {
          state.alerts.push({ id: event.id, rule: payload.rule_id || "fraud", severity: payload.severity || "", basketId: event.basketId });
          renderBanners();
        }
        break;
      case "AGE_VERIFICATION_REQUIRED":
      case "AGE_VERIFICATION_COMPLETED":
      case "AGE_VERIFICATION_FAILED":
        if (state.basket && event.basketId === state.basket.id) refreshGate();
        break;
      case "CUSTOMER_DATA_FETCHED":
        if (state.basket && event.basketId === state.basket.id) reload();
        break;
    }
  }

  function watchSuggestions(basketId) {
    if (stopSuggestions) stopSuggestions();
    stopSuggestions = live.subscribe(
      "subscription($b: String!, $after: String) { recommendations(basketId: $b, after: $after) { id cursor basketId recommendations { id productId productName price status reason } } }",
      { b: basketId },
      {
        next: (data) => {
          const push = data.recommendations;
          if (!state.basket || push.basketId !== state.basket.id) return;
          state.suggestions = push.recommendations.filter((item) => item.status === "PENDING" && !state.basket.items.some((line) => line.productId === item.productId));
          renderSuggestions();
        },
      },
    );
  }

  // --- Rendering ------------------------------------------------------------------------------
  function render() {
    const basket = state.basket;
    document.getElementById("basket-id").textContent = basket ? basket.id : "no basket yet: scan to start";
    const held = new Set((state.gate?.heldItems || []).map((item) => item.product_id || item.productId));
    fill(
      lines,
      (basket?.items || []).map((item, index) => {
        const isHeld = item.ageRestricted && held.has(item.productId);
        return h(
          "li",
          { id: `line-${index}`, role: "option", "aria-selected": index === state.selectedLine ? "true" : "false", class: isHeld ? "held" : null, dataset: { product: item.productId } },
          h("span", {}, item.productName, " ", isHeld ? h("span", { class: "tag held" }, `held: age ${item.minimumAge}+`) : item.ageRestricted ? h("span", { class: "tag ok" }, "age checked") : null),
          h("span", { class: "num" }, `${item.quantity} × ${money(item.unitPriceCents)}`),
          h("span", { class: "num" }, money(item.lineTotalCents)),
        );
      }),
    );
    if (state.selectedLine >= 0) lines.setAttribute("aria-activedescendant", `line-${state.selectedLine}`);
    else lines.removeAttribute("aria-activedescendant");
    fill(
      totals,
      basket
        ? [
            h("div", {}, h("span", {}, "Subtotal"), h("span", { id: "subtotal" }, money(basket.subtotalCents))),
            h("div", {}, h("span", {}, "Tax"), h("span", { id: "tax" }, money(basket.taxCents))),
            h("div", { class: "total" }, h("span", {}, "Total"), h("span", { id: "total" }, money(basket.totalCents))),
          ]
        : h("p", { class: "muted" }, "Scan the first item to start a sale."),
    );
    const customer = basket?.customer;
    fill(
      customerBox,
      customer
        ? h("div", { class: "banner customer", id: "customer-profile" }, `${customer.name} · ${customer.tier} · ${customer.loyaltyPoints} points`)
        : basket?.customerIdentifier
          ? h("p", { class: "muted" }, `Customer ${basket.customerIdentifier} (looking up…)`)
          : state.pendingCustomer
            ? h("p", { class: "muted" }, `Customer ${state.pendingCustomer} for the next sale`)
            : null,
    );
    payButton.disabled = !basket || basket.itemCount === 0;
    ageButton.disabled = !basket;
    renderBanners();
  }

  function renderBanners() {
    const list = [];
    for (const alert of state.alerts) {
      list.push(h("div", { class: "banner fraud", role: "alert", dataset: { rule: alert.rule } }, `Fraud alert: ${alert.rule.replaceAll("_", " ")}${alert.severity ? ` (${alert.severity})` : ""}. A manager may need to approve the payment.`));
    }
    if (state.gate && !state.gate.allowed && (state.gate.heldItems || []).length) {
      list.push(h("div", { class: "banner age", role: "alert", id: "age-banner" }, `Age check needed: ${state.gate.minimumAge}+ for ${(state.gate.heldItems || []).map((item) => item.product_id || item.productId).join(", ")}. Press F8.`));
    }
    fill(banners, list);
  }

  function renderResults() {
    scan.setAttribute("aria-expanded", state.results.length ? "true" : "false");
    fill(
      results,
      state.results.map((product, index) =>
        h(
          "li",
          { id: `result-${index}`, role: "option", "aria-selected": index === state.selectedResult ? "true" : "false", dataset: { product: product.productId }, onclick: () => add(product.productId, 1) },
          h("span", {}, product.name, product.ageRestricted ? h("span", { class: "tag held" }, ` ${product.minimumAge}+`) : null),
          h("span", { class: "num" }, money(product.priceCents)),
        ),
      ),
    );
    if (state.selectedResult >= 0) scan.setAttribute("aria-activedescendant", `result-${state.selectedResult}`);
    else scan.removeAttribute("aria-activedescendant");
  }

  function renderSuggestions() {
    fill(
      suggestions,
      state.suggestions.length
        ? state.suggestions.map((item, index) =>
            h(
              "li",
              { id: `suggestion-${index}`, role: "option", "aria-selected": index === state.selectedSuggestion ? "true" : "false", dataset: { product: item.productId } },
              h("span", {}, `${item.productName}${item.price != null ? " · " + money(Math.round(item.price * 100)) : ""}`),
              h("span", { class: "row" },
                h("button", { class: "accept", onclick: () => answer(item, true), "aria-label": `Add ${item.productName}` }, "Add"),
                h("button", { class: "secondary reject", onclick: () => answer(item, false), "aria-label": `No ${item.productName}` }, "No")),
            ),
          )
        : h("li", { class: "muted" }, "Nothing suggested yet."),
    );
  }

  // --- Actions --------------------------------------------------------------------------------
  /** Runs a change; a refusal is shown, a lost connection recovered by reading the basket again. */
  async function change(what, operation) {
    if (state.busy) return null;
    state.busy = true;
    status.textContent = what + "…";
    try {
      const value = await operation();
      status.textContent = "";
      notice("");
      return value;
    } catch (error) {
      if (context.failed(error)) return null;
      if (error instanceof ApiError && error.code === "NETWORK") {
        status.textContent = "Connection lost: reconnecting. The basket on the server is what counts.";
        await recover();
      } else {
        status.textContent = "";
        notice(error.message, "bad");
      }
      return null;
    } finally {
      state.busy = false;
      keepFocus();
    }
  }

  async function recover() {
    try {
      await retrying(() => gql("query { me { id } }"), { onWait: () => (status.textContent = "Offline: retrying…") });
      await reload();
      status.textContent = "Reconnected. The basket shows what the server has; scan again anything missing.";
      scan.select();
      notice("");
    } catch (error) {
      notice(error.message, "bad");
    }
  }

  async function reload() {
    if (!state.basket) return;
    try {
      const data = await gql(`query($b: String!) { basketDetails(basketId: $b) { ${BASKET} } }`, { b: state.basket.id });
      if (data.basketDetails) setBasket(data.basketDetails);
      await refreshGate();
    } catch (error) {
      context.failed(error);
    }
  }

  function setBasket(basket) {
    state.basket = basket;
    if (state.selectedLine >= basket.items.length) state.selectedLine = basket.items.length - 1;
    state.suggestions = state.suggestions.filter((item) => !basket.items.some((line) => line.productId === item.productId));
    render();
    renderSuggestions();
  }

  async function refreshGate() {
    if (!state.basket) return;
    try {
      const data = await gql("query($b: String!) { ageGate(basketId: $b) { allowed reason minimumAge heldItems { productId minimumAge } } }", { b: state.basket.id });
      state.gate = data.ageGate;
    } catch (error) {
      // The age plugin may be down: the payment will say so; keep what we had.
      if (!context.failed(error)) state.gate = state.gate || null;
    }
    render();
  }

  async function ensureBasket() {
    if (state.basket) return state.basket;
    const data = await gql(
      `mutation($t: String, $c: String) { startBasket(terminalId: $t, customerIdentifier: $c) { basket { ${BASKET} } } }`,
      { t: terminalId, c: state.pendingCustomer || null },
    );
    state.pendingCustomer = null;
    state.alerts = [];
    state.suggestions = [];
    state.gate = null;
    setBasket(data.startBasket.basket);
    watchSuggestions(state.basket.id);
    return state.basket;
  }

  async function add(productId, quantity) {
    await change(`Adding ${productId}`, async () => {
      const basket = await ensureBasket();
      const data = await gql(
        `mutation($b: String!, $p: String!, $q: Int, $t: String) { addItem(basketId: $b, productId: $p, quantity: $q, terminalId: $t) { item { ageRestricted } basket { ${BASKET} } } }`,
        { b: basket.id, p: productId, q: quantity, t: terminalId },
      );
      state.selectedLine = data.addItem.basket.items.length - 1;
      setBasket(data.addItem.basket);
      scan.value = "";
      state.results = [];
      state.selectedResult = -1;
      renderResults();
      if (data.addItem.item?.ageRestricted) await refreshGate();
    });
  }

  /** Enter in the scan field: the highlighted result, or an exact id or barcode, or the first hit. */
  async function scanned() {
    const text = scan.value.trim();
    if (!text) return;
    const match = /^(\d{1,4})\s*\*\s*(.+)$/.exec(text);
    const quantity = match ? Number(match[1]) : 1;
    const code = (match ? match[2] : text).trim();
    if (state.selectedResult >= 0 && !match) return add(state.results[state.selectedResult].productId, 1);
    try {
      const data = await gql("query($c: String!) { byCode: product(barcode: $c) { productId } byId: product(productId: $c) { productId } hits: searchProducts(query: $c, limit: 1) { productId } }", { c: code });
      const product = data.byCode || data.byId || data.hits[0];
      if (!product) {
        notice(`No product matches “${code}”.`, "bad");
        scan.select();
        return;
      }
      await add(product.productId, quantity);
    } catch (error) {
      if (context.failed(error)) return;
      if (error instanceof ApiError && error.code === "NETWORK") {
        status.textContent = "Connection lost: reconnecting. Scan it again when the till is back.";
        await recover();
      } else notice(error.message, "bad");
    }
  }

  let searchTimer = null;
  let searchGeneration = 0;
  function searchSoon() {
    clearTimeout(searchTimer);
    const text = scan.value.replace(/^\d{1,4}\s*\*\s*/, "").trim();
    if (text.length < 2 || /^\d{8,}$/.test(text)) {
      state.results = [];
      state.selectedResult = -1;
      return renderResults();
    }
    searchTimer = setTimeout(async () => {
      const generation = ++searchGeneration;
      try {
        const data = await gql("query($q: String!) { searchProducts(query: $q, limit: 8) { productId name priceCents ageRestricted minimumAge } }", { q: text });
        if (generation !== searchGeneration) return;
        state.results = data.searchProducts;
        state.selectedResult = state.results.length ? 0 : -1;
        renderResults();
      } catch (error) {
        context.failed(error);
      }
    }, 120);
  }

  async function quantityBy(delta) {
    const line = state.basket?.items[state.selectedLine];
    if (!line) return;
    const quantity = line.quantity + delta;
    if (quantity < 1) return removeLine();
    await change("Changing the quantity", async () => {
      const data = await gql(`mutation($b: String!, $i: String!, $q: Int!) { updateQuantity(basketId: $b, itemId: $i, quantity: $q) { basket { ${BASKET} } } }`, { b: state.basket.id, i: line.id, q: quantity });
      setBasket(data.updateQuantity.basket);
    });
    lines.focus();
  }

  async function removeLine() {
    const line = state.basket?.items[state.selectedLine];
    if (!line) return;
    const remove = (approval = {}) =>
      gql(
        `mutation($b: String!, $i: String!, $u: String, $p: String) { removeItem(basketId: $b, itemId: $i, approverUsername: $u, approverPassword: $p) { basket { ${BASKET} } } }`,
        { b: state.basket.id, i: line.id, u: approval.username || null, p: approval.password || null },
      );
    try {
      const data = await remove();
      setBasket(data.removeItem.basket);
    } catch (error) {
      if (context.failed(error)) return;
      if (error instanceof ApiError && error.code === "APPROVAL_REQUIRED") {
        state.dialog = true;
        const approval = await approvalDialog(`Removing ${line.productName} (${money(line.lineTotalCents)}) needs a manager.`);
        state.dialog = false;
        if (approval) await change("Removing the line", async () => setBasket((await remove(approval)).removeItem.basket));
      } else notice(error.message, "bad");
    }
    await refreshGate();
    keepFocus();
  }

  async function answer(item, accepted) {
    await change(accepted ? `Adding ${item.productName}` : "Declining", async () => {
      const data = await gql(
        `mutation($id: Int!, $b: String) { ${accepted ? "acceptRecommendation" : "rejectRecommendation"}(recommendationId: $id, basketId: $b) { success basket { ${BASKET} } } }`,
        { id: item.id, b: state.basket?.id || null },
      );
      state.suggestions = state.suggestions.filter((other) => other.id !== item.id);
      const basket = data[accepted ? "acceptRecommendation" : "rejectRecommendation"].basket;
      if (basket) setBasket(basket);
      else renderSuggestions();
    });
  }

  async function verifyAge() {
    if (!state.basket || state.dialog) return;
    state.dialog = true;
    const verified = await ageDialog({ basket: state.basket, gate: state.gate, me, terminalId, failed: context.failed });
    state.dialog = false;
    if (verified) notice("");
    await refreshGate();
    keepFocus();
  }

  async function identify() {
    if (state.dialog) return;
    state.dialog = true;
    const identifier = await customerDialog();
    state.dialog = false;
    if (identifier) {
      if (state.basket) {
        await change("Identifying the customer", async () => {
          const data = await gql(`mutation($b: String!, $c: String!) { identifyCustomer(basketId: $b, customerIdentifier: $c) { basket { ${BASKET} } } }`, { b: state.basket.id, c: identifier });
          setBasket(data.identifyCustomer.basket);
        });
      } else {
        state.pendingCustomer = identifier;
        render();
      }
    }
    keepFocus();
  }

  async function pay() {
    if (!state.basket || state.basket.itemCount === 0 || state.dialog) return;
    state.dialog = true;
    const paid = await paymentDialog({ basket: state.basket, terminalId, failed: context.failed });
    state.dialog = false;
    if (paid?.verifyAgeFirst) {
      notice("Payment refused: the age-restricted items are not verified yet. Verify the customer's age.", "bad");
      await verifyAge();
    } else if (paid) await showThanks(paid);
    else keepFocus();
  }

  async function showThanks(payment) {
    let receipt = null;
    try {
      const response = await retrying(() =>
        fetch(`/receipts/${encodeURIComponent(payment.basketId)}.json`, { headers: { authorization: "Bearer " + context.session.token } }).then((answer) => {
          if (!answer.ok) throw new ApiError(`receipt: ${answer.status}`, answer.status >= 500 ? "NETWORK" : "NOT_FOUND");
          return answer.json();
        }).catch((error) => {
          throw error instanceof ApiError ? error : new ApiError(error.message, "NETWORK");
        }),
      );
      receipt = response;
    } catch {
      receipt = null;
    }
    const next = h("button", { id: "new-sale", onclick: () => newSale() }, "New sale (Enter)");
    fill(
      thanks,
      h("h1", {}, "Thank you!"),
      h("p", {}, "Paid ", h("strong", { id: "paid-total" }, money(payment.totalCents)), ` · ${payment.paymentMethod.toLowerCase()}`),
      payment.changeCents > 0 ? h("p", {}, "Change due", h("br"), h("span", { class: "change", id: "change-due" }, money(payment.changeCents))) : null,
      receipt ? renderReceipt(receipt) : h("p", { class: "muted" }, "The receipt is on the server: ", h("a", { href: payment.receiptUrl, target: "_blank" }, "open it")),
      h("div", { class: "row", style: "justify-content:center;margin-top:12px" }, next, h("a", { href: payment.receiptUrl + `?token=${encodeURIComponent(context.session.token)}`, target: "_blank", id: "print-receipt" }, "Print receipt")),
    );
    view.hidden = true;
    thanks.hidden = false;
    next.focus();
  }

  /** The receipt as /receipts/{basket}.json gives it (Sources/POSCheckout/HTTP/Receipts.swift). */
  function renderReceipt(receipt) {
    return h(
      "table",
      { class: "receipt", id: "receipt", "aria-label": "Receipt" },
      h("tbody", {},
        receipt.lines.map((line) => h("tr", {}, h("td", {}, `${line.quantity} × ${line.name}`), h("td", { class: "num" }, money(line.total_cents)))),
        h("tr", {}, h("td", {}, "Subtotal"), h("td", { class: "num" }, money(receipt.subtotal_cents))),
        h("tr", {}, h("td", {}, "Tax"), h("td", { class: "num" }, money(receipt.tax_cents))),
        h("tr", {}, h("th", {}, "Total"), h("th", { class: "num" }, money(receipt.total_cents))),
        receipt.tenders.map((tender) => h("tr", {}, h("td", {}, `${tender.method}${tender.reference ? " " + tender.reference : ""}`), h("td", { class: "num" }, money(tender.tendered_cents)))),
        h("tr", {}, h("td", {}, "Change"), h("td", { class: "num" }, money(receipt.change_cents)))),
    );
  }

  function newSale() {
    state.basket = null;
    state.gate = null;
    state.alerts = [];
    state.suggestions = [];
    state.selectedLine = -1;
    if (stopSuggestions) stopSuggestions();
    stopSuggestions = null;
    thanks.hidden = true;
    view.hidden = false;
    render();
    renderSuggestions();
    keepFocus();
  }

  // --- Keyboard and focus ------------------------------------------------------------------------
  function keepFocus() {
    if (state.dialog || !thanks.hidden) return;
    const active = document.activeElement;
    if (!active || active === document.body || !main.contains(active) || active.closest("[hidden]")) scan.focus();
  }

  function onKey(event) {
    if (state.dialog || document.querySelector("dialog[open]")) return;
    if (!thanks.hidden) {
      if (event.key === "Enter" || event.key === "F2") {
        event.preventDefault();
        newSale();
      }
      return;
    }
    const keys = { F2: () => { scan.focus(); scan.select(); }, F3: identify, F6: () => focusLines(), F7: () => focusSuggestions(), F8: verifyAge, F9: pay, F10: () => context.signOut() };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      scan.focus();
    }
  }

  function focusLines() {
    if (!state.basket?.items.length) return scan.focus();
    if (state.selectedLine < 0) state.selectedLine = state.basket.items.length - 1;
    render();
    lines.focus();
  }

  function focusSuggestions() {
    if (!state.suggestions.length) return scan.focus();
    state.selectedSuggestion = state.selectedSuggestion >= 0 && state.selectedSuggestion < state.suggestions.length ? state.selectedSuggestion : 0;
    renderSuggestions();
    suggestions.setAttribute("aria-activedescendant", `suggestion-${state.selectedSuggestion}`);
    suggestions.focus();
  }

  scan.addEventListener("input", searchSoon);
  scan.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!state.results.length) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.selectedResult = (state.selectedResult + step + state.results.length) % state.results.length;
      renderResults();
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(searchTimer);
      scanned();
    }
  });
  lines.addEventListener("keydown", (event) => {
    const count = state.basket?.items.length || 0;
    if (!count) return;
    const actions = {
      ArrowDown: () => { state.selectedLine = Math.min(count - 1, state.selectedLine + 1); render(); },
      ArrowUp: () => { state.selectedLine = Math.max(0, state.selectedLine - 1); render(); },
      "+": () => quantityBy(1), "=": () => quantityBy(1), "-": () => quantityBy(-1),
      Delete: () => removeLine(), Backspace: () => removeLine(),
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });
  suggestions.addEventListener("keydown", (event) => {
    const count = state.suggestions.length;
    if (!count) return;
    const item = state.suggestions[state.selectedSuggestion];
    const actions = {
      ArrowDown: () => { state.selectedSuggestion = Math.min(count - 1, state.selectedSuggestion + 1); focusSuggestions(); },
      ArrowUp: () => { state.selectedSuggestion = Math.max(0, state.selectedSuggestion - 1); focusSuggestions(); },
      Enter: () => item && answer(item, true), Delete: () => item && answer(item, false), Backspace: () => item && answer(item, false),
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });
  document.addEventListener("keydown", onKey);
  // Focus never gets lost: whatever a re-render removed, the scan field takes it back.
  const refocus = () => setTimeout(keepFocus, 0);
  main.addEventListener("focusout", refocus);

  // A reload in the middle of a sale picks the open basket of this till up again.
  (async () => {
    try {
      const data = await gql(`query($e: Int) { activeBaskets(employeeId: $e) { ${BASKET} } }`, { e: me.id });
      const open = data.activeBaskets.find((basket) => basket.terminalId === terminalId && basket.status === "OPEN");
      if (open && !state.basket) {
        setBasket(open);
        watchSuggestions(open.id);
        await refreshGate();
      }
    } catch (error) {
      context.failed(error);
    }
  })();
  render();
  renderSuggestions();
  scan.focus();

  return () => {
    document.removeEventListener("keydown", onKey);
    main.removeEventListener("focusout", refocus);
    stopTerminal();
    if (stopSuggestions) stopSuggestions();
    live.close();
  };
}
