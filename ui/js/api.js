// The GraphQL client of the screens: POST /graphql with the session's bearer token. Errors
// come back as ApiError with the server's `extensions.code`; a request that never reached the
// server is a NETWORK error, so a screen can say so and retry what is safe to retry.

/** An error the server (or the network) gave: `code` is extensions.code or "NETWORK". */
export class ApiError extends Error {
  constructor(message, code, extensions = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

const SESSION_KEY = "pos.session";

/** The signed-in session ({token, employee, terminalId}) kept for this browser tab. */
export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    } catch {
      return null;
    }
  },
  set(value) {
    if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SESSION_KEY);
  },
};

/** Listeners told when the network goes away and comes back ("offline" / "online"). */
const linkListeners = new Set();
export function onLink(listener) {
  linkListeners.add(listener);
  return () => linkListeners.delete(listener);
}
let linkState = "online";
function setLink(state) {
  if (state === linkState) return;
  linkState = state;
  for (const listener of linkListeners) listener(state);
}

/** Runs one GraphQL operation; resolves with `data`, rejects with ApiError. */
export async function gql(query, variables = {}, { token = session.get()?.token } = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...(token ? { authorization: "Bearer " + token } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    setLink("offline");
    throw new ApiError("Connection to the server lost: check the network. Nothing is lost; the till retries.", "NETWORK");
  }
  setLink("online");
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a result.`, "NETWORK");
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const extensions = first.extensions || {};
    throw new ApiError(first.message, extensions.code || "INTERNAL_SERVER_ERROR", extensions);
  }
  return body.data;
}

/**
 * Retries `operation` while it fails for the network only (every 1 s, then up to 5 s), for
 * operations that are safe to repeat: reads, and payments (they carry an idempotency key).
 */
export async function retrying(operation, { attempts = 30, onWait } = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== "NETWORK" || attempt + 1 >= attempts) throw error;
      if (onWait) onWait(attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 1000 * (attempt + 1))));
    }
  }
}

/** The WebSocket address of /graphql on this server. */
export function liveURL() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
}
