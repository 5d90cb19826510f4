// A graphql-transport-ws client (the protocol of the graphql-ws library) for pos-api's live
// pushes, as a plain ES module: no build, no npm. See docs/live.md.
//
//   import { LiveClient } from "/ui/js/graphql-ws.js";
//   const live = new LiveClient("ws://host:8080/graphql", () => token, { onStatus: s => ... });
//   const stop = live.subscribe(
//     "subscription($t: String!, $after: String) { terminalEvents(terminalId: $t, after: $after) { id cursor type payload } }",
//     { t: "TERM001" }, { next: data => ..., error: errors => ... });
//
// Resuming: when a pushed object has a `cursor` and the operation declares `$after`, the
// client remembers the last cursor and, after a reconnect, subscribes again with
// `after: <cursor>`, so the server sends exactly what was missed (no gap, no repeat).

/** Close codes after which reconnecting cannot help (a bug, or the session ended). */
const FATAL = new Set([4400, 4401, 4403, 4406, 4409, 4429]);

export class LiveClient {
  /**
   * @param {string} url ws:// or wss:// address of /graphql
   * @param {() => string} token the bearer token to send in connection_init
   * @param {{onStatus?: (status: string, detail?: string) => void, WebSocket?: typeof WebSocket,
   *          retryMs?: number, maxRetryMs?: number, pingMs?: number}} options
   */
  constructor(url, token, options = {}) {
    this.url = url;
    this.token = token;
    this.options = options;
    this.Socket = options.WebSocket || globalThis.WebSocket;
    this.operations = new Map();
    this.nextId = 1;
    this.socket = null;
    this.acknowledged = false;
    this.retries = 0;
    this.closed = false;
  }

  /** Subscribes; returns a function that stops the subscription. */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const operation = { id, query, variables: { ...variables }, sink, cursor: null, resumable: /\$after\b/.test(query) };
    this.operations.set(id, operation);
    if (this.acknowledged) this.#send(operation);
    else this.#open();
    return () => {
      if (this.operations.delete(id) && this.acknowledged) this.#write({ type: "complete", id });
    };
  }

  /** Closes the connection and stops reconnecting. */
  close() {
    this.closed = true;
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000, "client closed");
  }

  #status(status, detail) {
    if (this.options.onStatus) this.options.onStatus(status, detail);
  }

  #write(message) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  #send(operation) {
    const variables = { ...operation.variables };
    if (operation.resumable && operation.cursor) variables.after = operation.cursor;
    this.#write({ type: "subscribe", id: operation.id, payload: { query: operation.query, variables } });
  }

  #open() {
    if (this.socket || this.closed) return;
    this.#status("connecting");
    const socket = new this.Socket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: "Bearer " + this.token() } }));
    };
    socket.onmessage = (event) => this.#receive(JSON.parse(event.data));
    socket.onclose = (event) => this.#closed(event.code, event.reason);
    socket.onerror = () => {};
  }

  #receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.retries = 0;
        this.#status("live");
        for (const operation of this.operations.values()) this.#send(operation);
        clearInterval(this.pinger);
        this.pinger = setInterval(() => this.#write({ type: "ping" }), this.options.pingMs || 20000);
        break;
      case "ping":
        this.#write({ type: "pong" });
        break;
      case "next": {
        const operation = this.operations.get(message.id);
        if (!operation) break;
        const data = message.payload && message.payload.data;
        const pushed = data && Object.values(data)[0];
        if (pushed && pushed.cursor) operation.cursor = pushed.cursor;
        if (message.payload.errors && operation.sink.error) operation.sink.error(message.payload.errors);
        if (data && operation.sink.next) operation.sink.next(data);
        break;
      }
      case "error": {
        const operation = this.operations.get(message.id);
        this.operations.delete(message.id);
        if (operation && operation.sink.error) operation.sink.error(message.payload);
        break;
      }
      case "complete": {
        const operation = this.operations.get(message.id);
        this.operations.delete(message.id);
        if (operation && operation.sink.complete) operation.sink.complete();
        break;
      }
    }
  }

  #closed(code, reason) {
    this.socket = null;
    this.acknowledged = false;
    clearInterval(this.pinger);
    if (this.closed) return;
    if (FATAL.has(code)) {
      this.#status("closed", reason || String(code));
      for (const operation of this.operations.values()) if (operation.sink.error) operation.sink.error([{ message: reason, extensions: { code: String(code) } }]);
      this.operations.clear();
      return;
    }
    // Lost, or dropped as too slow (1013): back off, reconnect, resume from the last cursors.
    const delay = Math.min(this.options.maxRetryMs || 10000, (this.options.retryMs || 250) * 2 ** this.retries++);
    this.#status("reconnecting", `${code} ${reason || ""}`.trim());
    setTimeout(() => {
      if (this.operations.size > 0) this.#open();
    }, delay);
  }
}
