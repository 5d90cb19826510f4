// The UI's graphql-transport-ws client (ui/js/graphql-ws.js) against a running pos-api, in
// Node's own WebSocket (run with --experimental-websocket): pushes arrive, and after the
// connection drops the client resubscribes with the last cursor and gets each event once.
// usage: node --experimental-websocket live_client_test.mjs API_URL
import { LiveClient } from "../../ui/js/graphql-ws.js";

const api = process.argv[2];
const fail = (message) => { console.log("FAIL: " + message); process.exit(1); };
const gql = async (query, variables, token) => {
  const response = await fetch(api + "/graphql", {
    method: "POST",
    // Node reuses kept-alive connections even for a WebSocket upgrade, which the server takes
    // only as a connection's first request (as browsers send it): close them after each answer.
    headers: { "Content-Type": "application/json", Connection: "close", ...(token ? { Authorization: "Bearer " + token } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
};
const until = async (condition, ms = 30000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
};

const served = await fetch(api + "/ui/js/graphql-ws.js", { headers: { Connection: "close" } });
const source = await served.text();
if (served.status !== 200 || !(served.headers.get("content-type") || "").includes("javascript")) fail("the module is not served: " + served.status);
if (!source.includes("export class LiveClient")) fail("served something else");
console.log("ok: pos-api serves the client at /ui/js/graphql-ws.js");

const login = await gql('mutation { login(username: "live_c4", password: "password123", terminalId: "LIVE-JS1") { token employee { id } } }');
const token = login.data.login.token;
const employee = login.data.login.employee.id;
const basket = (await gql("mutation($e: Int!) { startBasket(employeeId: $e, terminalId: \"LIVE-JS1\") { basketId } }", { e: employee }, token)).data.startBasket.basketId;

const sent = [];
const sockets = [];
class RecordingSocket extends WebSocket {
  constructor(url, protocol) { super(url, protocol); sockets.push(this); }
  send(text) { sent.push(JSON.parse(text)); super.send(text); }
}
const statuses = [];
const client = new LiveClient(api.replace("http", "ws") + "/graphql", () => token, { WebSocket: RecordingSocket, onStatus: (s) => statuses.push(s), retryMs: 100 });
const pushes = [];
client.subscribe(
  "subscription($t: String!, $after: String) { terminalEvents(terminalId: $t, after: $after) { id cursor type payload } }",
  { t: "LIVE-JS1" },
  { next: (data) => pushes.push(data.terminalEvents), error: (errors) => fail(JSON.stringify(errors)) });
if (!(await until(() => statuses.includes("live")))) fail("never acknowledged: " + statuses);
// The subscription is registered once its ping is answered.
await until(() => sent.some((m) => m.type === "subscribe"));
await new Promise((resolve) => setTimeout(resolve, 300));
await gql('mutation($b: String!) { addItem(basketId: $b, productId: "BURGER", productName: "x", quantity: 1, price: 1) { success } }', { b: basket }, token);
if (!(await until(() => pushes.length >= 1))) fail("no push for the burger");
console.log("ok: a recommendation pushed through the client: " + pushes[0].type);

// The connection drops; an event happens meanwhile; the client reconnects and resumes.
sockets[0].close(1000, "test drop");
await until(() => statuses.includes("reconnecting"));
await gql('mutation($b: String!) { addItem(basketId: $b, productId: "COFFEE", productName: "x", quantity: 1, price: 1) { success } }', { b: basket }, token);
if (!(await until(() => pushes.length >= 2))) fail("nothing after the reconnect: " + JSON.stringify(pushes));
await new Promise((resolve) => setTimeout(resolve, 1000));
const resubscribe = sent.filter((m) => m.type === "subscribe")[1];
if (!resubscribe || resubscribe.payload.variables.after !== pushes[0].cursor) fail("did not resume from the last cursor: " + JSON.stringify(resubscribe));
const ids = pushes.map((p) => p.id);
if (new Set(ids).size !== ids.length || pushes.length !== 2) fail("repeated or extra pushes: " + JSON.stringify(pushes.map((p) => p.type)));
// The basket's list after each scan: the burger's pairs, then with the coffee's.
const products = pushes.map((p) => JSON.parse(p.payload).recommendations.map((r) => r.product_id));
if (!products[0].includes("FRIES") || !products[1].includes("DONUT")) fail("unexpected recommendations: " + JSON.stringify(products));
console.log("ok: after a dropped connection the client resubscribed with after=<last cursor> and got the missed push once");
client.close();
process.exit(0);
