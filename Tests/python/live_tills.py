#!/usr/bin/env python3
"""Live pushes of pos-api driven by independent clients: `websockets` (PyPI) for the sockets,
`requests` for GraphQL over HTTP, and `kcat` as a producer standing in for pos-host's relay of
plugin emissions. Each scenario prints `ok: ...` lines and exits non-zero on the first failure.

usage: live_tills.py --api URL --bootstrap HOST:PORT [--second URL] SCENARIO
"""
import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ARGS = None
PASSWORD = "password123"


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def ok(message):
    print("ok: " + message, flush=True)


def expect(condition, message):
    if not condition:
        fail(message)


def gql(query, variables=None, token=None, api=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    answer = requests.post((api or ARGS.api) + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)
    return answer.json()


def login(username, terminal):
    answer = gql("mutation($u: String!, $p: String!, $t: String) { login(username: $u, password: $p, terminalId: $t) { token } }",
                 {"u": username, "p": PASSWORD, "t": terminal})
    expect("data" in answer and answer["data"]["login"], "login %s: %s" % (username, answer))
    return answer["data"]["login"]["token"]


def start_basket(token, terminal):
    me = gql("{ me { id } }", token=token)["data"]["me"]["id"]
    answer = gql('mutation($e: Int!, $t: String!) { startBasket(employeeId: $e, terminalId: $t) { basketId } }', {"e": int(me), "t": terminal}, token)
    expect(answer.get("data") and answer["data"]["startBasket"], "startBasket: %s" % answer)
    return answer["data"]["startBasket"]["basketId"]


def add_item(token, basket, product):
    answer = gql('mutation($b: String!, $p: String!) { addItem(basketId: $b, productId: $p, productName: "x", quantity: 1, price: 1) { success } }',
                 {"b": basket, "p": product}, token)
    expect(answer.get("data") and answer["data"]["addItem"]["success"], "addItem %s: %s" % (product, answer))


def ws_url(path, api=None):
    return (api or ARGS.api).replace("http://", "ws://") + path


def emitted(event_type, terminal, **payload):
    """An event as pos-host's relay publishes what a plugin emitted (envelope v1)."""
    payload["terminal_id"] = terminal
    return {"id": str(uuid.uuid4()), "type": event_type, "schema_version": 1, "time_ms": int(time.time() * 1000), "key": terminal,
            "source": "live-test", "payload": payload}


def produce(events):
    lines = "".join(event["key"] + "\t" + json.dumps(event) + "\n" for event in events)
    result = subprocess.run(["kcat", "-P", "-b", ARGS.bootstrap, "-t", "pos-events", "-K", "\t", "-X", "linger.ms=1"],
                            input=lines.encode(), capture_output=True, timeout=120)
    expect(result.returncode == 0, "kcat: %s" % result.stderr.decode())


class Client:
    """A graphql-transport-ws client."""

    def __init__(self, socket):
        self.ws = socket
        self.pings = 0

    @staticmethod
    async def open(token, api=None, **options):
        ws = await connect(ws_url("/graphql", api), subprotocols=["graphql-transport-ws"], open_timeout=20, **options)
        client = Client(ws)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 20))
        expect(ack["type"] == "connection_ack", "expected connection_ack, got %s" % ack)
        return client

    async def subscribe(self, op_id, query, variables=None):
        await self.ws.send(json.dumps({"type": "subscribe", "id": op_id, "payload": {"query": query, "variables": variables or {}}}))
        await self.synced()

    async def synced(self):
        """A ping answered: everything sent before it has been taken in (subscriptions registered)."""
        self.pings += 1
        marker = "sync-%d" % self.pings
        await self.ws.send(json.dumps({"type": "ping", "payload": {"m": marker}}))
        self.early = getattr(self, "early", [])
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
            if message["type"] == "pong" and message.get("payload", {}).get("m") == marker:
                return
            self.early.append(message)

    async def next_messages(self, count, timeout=20):
        messages = list(getattr(self, "early", []))
        self.early = []
        deadline = time.monotonic() + timeout
        while len(messages) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                messages.append(json.loads(await asyncio.wait_for(self.ws.recv(), left)))
            except asyncio.TimeoutError:
                break
        return messages

    async def data(self, op_id, field, count, timeout=20, types=None, where=None):
        """The next `count` pushes of `field` for `op_id` (of `types`, and for which `where`
        holds, when given)."""
        found = []
        deadline = time.monotonic() + timeout
        pending = list(getattr(self, "early", []))
        self.early = []
        while len(found) < count and time.monotonic() < deadline:
            if pending:
                message = pending.pop(0)
            else:
                try:
                    message = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic())))
                except asyncio.TimeoutError:
                    break
            if message.get("id") != op_id:
                continue
            expect(message["type"] == "next", "expected next for %s, got %s" % (op_id, message))
            value = message["payload"]["data"][field]
            if (types is None or value.get("type") in types) and (where is None or where(value)):
                found.append(value)
        return found


async def close_code(ws, timeout=20):
    """Reads until the server closes; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
    except asyncio.TimeoutError:
        return (None, "not closed within %ss" % timeout)


async def raw(messages, subprotocol=True, wait=20):
    """Opens a socket, sends `messages` (text, or bytes for a binary frame), returns the close."""
    ws = await connect(ws_url("/graphql"), subprotocols=["graphql-transport-ws"] if subprotocol else None, open_timeout=20)
    for message in messages:
        await ws.send(message)
    return await close_code(ws, wait)


# ---------------------------------------------------------------- scenarios


async def protocol():
    token = login("live_c1", "LIVE-P1")
    init = json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}})
    code, _ = await raw([], subprotocol=False)
    expect(code == 4406, "without the subprotocol: %s" % code)
    ok("4406 without graphql-transport-ws")
    started = time.monotonic()
    code, _ = await raw([])
    expect(code == 4408, "no connection_init: %s" % code)
    ok("4408 without connection_init (after %.1f s)" % (time.monotonic() - started))
    code, _ = await raw([json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "subscription { storeFraudAlerts { id } }"}})])
    expect(code == 4401, "subscribe before init: %s" % code)
    ok("4401 subscribe before connection_ack")
    code, _ = await raw([init, init])
    expect(code == 4429, "two inits: %s" % code)
    ok("4429 on a second connection_init")
    code, reason = await raw([json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}})])
    expect(code == 4403, "foreign token: %s %s" % (code, reason))
    code, _ = await raw([json.dumps({"type": "connection_init"})])
    expect(code == 4403, "no token: %s" % code)
    ok("4403 with a foreign token and without one")
    for bad in ["not json", json.dumps([1, 2]), json.dumps({"type": "no_such_type"}), json.dumps({"payload": {}}), b"\x00\x01"]:
        code, _ = await raw([init, bad])
        expect(code == 4400, "bad message %r: %s" % (bad, code))
    code, _ = await raw([init, json.dumps({"type": "subscribe", "id": "1"})])
    expect(code == 4400, "subscribe without payload: %s" % code)
    ok("4400 for invalid messages (text, array, unknown type, no type, binary, no payload)")
    subscription = json.dumps({"type": "subscribe", "id": "dup", "payload": {"query": 'subscription { terminalEvents(terminalId: "LIVE-P1") { id } }'}})
    code, reason = await raw([init, subscription, subscription])
    expect(code == 4409, "duplicate id: %s" % code)
    expect("dup" in reason, "the reason names the id: %s" % reason)
    ok("4409 for a duplicate operation id")
    client = await Client.open(token)
    await client.ws.send(json.dumps({"type": "ping", "payload": {"n": 7}}))
    pong = json.loads(await client.ws.recv())
    expect(pong == {"type": "pong", "payload": {"n": 7}}, "pong: %s" % pong)
    ok("ping answered by pong with its payload")
    # A query over the socket: one next, then complete.
    await client.ws.send(json.dumps({"type": "subscribe", "id": "q", "payload": {"query": "{ me { username } }"}}))
    answers = await client.next_messages(2)
    expect([a["type"] for a in answers] == ["next", "complete"], "query: %s" % answers)
    expect(answers[0]["payload"]["data"]["me"]["username"] == "live_c1", "query result: %s" % answers[0])
    ok("a query over the socket answers next then complete")
    # Refused operations are `error` messages, the socket stays open.
    for query, code in [('subscription { terminalEvents(terminalId: "SOMEONE-ELSE") { id } }', "FORBIDDEN"),
                        ("subscription { storeFraudAlerts { id } }", "FORBIDDEN"),
                        ('subscription { basketEvents(basketId: "basket_nope") { id } }', "NOT_FOUND"),
                        ('subscription { terminalEvents(terminalId: "LIVE-P1", after: "0:0,x") { id } }', "RESUME_TOO_OLD")]:
        await client.ws.send(json.dumps({"type": "subscribe", "id": code + query[:20], "payload": {"query": query}}))
        answer = json.loads(await asyncio.wait_for(client.ws.recv(), 20))
        expect(answer["type"] == "error" and answer["payload"][0]["extensions"]["code"] == code, "%s: %s" % (query, answer))
    ok("another till, the store's alerts as a cashier, an unknown basket, a bad cursor: error messages with codes")
    # At most 100 operations per connection: the 101st is refused, the socket stays open.
    for index in range(100):
        await client.ws.send(json.dumps({"type": "subscribe", "id": "many-%d" % index, "payload": {
            "query": 'subscription { terminalEvents(terminalId: "LIVE-P1") { id } }'}}))
    await client.ws.send(json.dumps({"type": "subscribe", "id": "one-too-many", "payload": {
        "query": 'subscription { terminalEvents(terminalId: "LIVE-P1") { id } }'}}))
    answer = json.loads(await asyncio.wait_for(client.ws.recv(), 20))
    expect(answer["type"] == "error" and answer["id"] == "one-too-many" and answer["payload"][0]["extensions"]["code"] == "RATE_LIMITED",
           "the 101st operation: %s" % answer)
    ok("the 101st operation on one connection is refused with RATE_LIMITED")
    # A message over the size limit closes the socket (nothing is buffered without bound).
    code, reason = await raw([init, json.dumps({"type": "ping", "payload": {"x": "y" * 200_000}})])
    expect(code in (1009, 4400), "an oversized message: %s %s" % (code, reason))
    ok("a 200 KB message closes the socket (%s)" % code)
    await client.ws.close()


async def subscriptions():
    token = login("live_c2", "LIVE-S1")
    manager = login("live_mgr", "LIVE-MGR")
    basket = start_basket(token, "LIVE-S1")
    till = await Client.open(token)
    await till.subscribe("basket", "subscription($b: String!) { basketEvents(basketId: $b) { id cursor type basketId terminalId } }", {"b": basket})
    await till.subscribe("age", "subscription($b: String!) { ageVerificationEvents(basketId: $b) { id type payload } }", {"b": basket})
    await till.subscribe("recs", "subscription($b: String!) { recommendations(basketId: $b) { id cursor basketId recommendations { id productId status } } }",
                         {"b": basket})
    await till.subscribe("till", 'subscription { terminalEvents(terminalId: "LIVE-S1") { id type basketId } }')
    store = await Client.open(manager)
    await store.subscribe("fraud", "subscription { storeFraudAlerts { id type terminalId basketId payload } }")
    add_item(token, basket, "BURGER")
    add_item(token, basket, "BEER")
    pushes = await till.next_messages(6, timeout=30)
    by_op = {}
    for message in pushes + await till.next_messages(10, timeout=3):
        if message["type"] == "next":
            by_op.setdefault(message["id"], []).append(message["payload"]["data"])
    basket_types = [d["basketEvents"]["type"] for d in by_op.get("basket", [])]
    expect([t for t in basket_types if t == "ITEM_ADDED"] == ["ITEM_ADDED", "ITEM_ADDED"], "basketEvents: %s" % basket_types)
    expect("RECOMMENDATION_SUGGESTED" in basket_types and "AGE_VERIFICATION_REQUIRED" in basket_types, "plugin events on the basket: %s" % basket_types)
    ok("basketEvents: the basket's changes and the plugins' events (%s)" % ", ".join(basket_types))
    age = by_op.get("age", [])
    expect(age and age[0]["ageVerificationEvents"]["type"] == "AGE_VERIFICATION_REQUIRED", "ageVerificationEvents: %s" % age)
    expect(json.loads(age[0]["ageVerificationEvents"]["payload"])["minimum_age"] == 21, "the required age: %s" % age[0])
    ok("ageVerificationEvents: AGE_VERIFICATION_REQUIRED with minimum age 21 for the beer")
    recs = by_op.get("recs", [])
    expect(recs, "no recommendations pushed")
    products = sorted(r["productId"] for r in recs[0]["recommendations"]["recommendations"])
    expect(products == ["COKE", "FRIES"], "recommendations: %s" % products)
    expect(all(r["status"] == "PENDING" and r["id"] > 0 for r in recs[0]["recommendations"]["recommendations"]), "numbered: %s" % recs)
    ok("recommendations: FRIES and COKE for the burger, numbered for accept/reject")
    till_types = {d["terminalEvents"]["type"] for d in by_op.get("till", [])}
    expect({"RECOMMENDATION_SUGGESTED", "AGE_VERIFICATION_REQUIRED"} <= till_types and "ITEM_ADDED" not in till_types, "terminalEvents: %s" % till_types)
    ok("terminalEvents: the plugins' decisions for the till's baskets, not the raw changes")
    # rapid_items: ten scans within a minute raise a fraud alert for the basket.
    for _ in range(9):
        add_item(token, basket, "COKE")
    # The store's alerts include other tills' (other suites share the store): this basket's.
    alerts = await store.data("fraud", "storeFraudAlerts", 1, timeout=30, where=lambda alert: alert["basketId"] == basket)
    expect(alerts and alerts[0]["basketId"] == basket and alerts[0]["terminalId"] == "LIVE-S1", "storeFraudAlerts: %s" % alerts)
    expect(json.loads(alerts[0]["payload"]).get("rule_id") == "rapid_items", "the rule: %s" % alerts[0]["payload"])
    ok("storeFraudAlerts: fraud_detection's rapid_items alert reaches the manager, with its till")
    till_alerts = await till.data("till", "terminalEvents", 1, timeout=30, types={"FRAUD_ALERT"})
    expect(till_alerts, "the till was not told about its alert")
    ok("terminalEvents: the till gets its fraud alert")
    await till.ws.close()
    await store.ws.close()


async def plain():
    token = login("live_c3", "LIVE-W1")
    basket = start_basket(token, "LIVE-W1")
    session = await connect(ws_url("/ws/session/LIVE-W1/?token=" + token), open_timeout=20)
    fraud = await connect(ws_url("/ws/fraud-alerts/LIVE-W1/"), additional_headers={"Authorization": "Bearer " + token}, open_timeout=20)
    fraud_short = await connect(ws_url("/ws/fraud/LIVE-W1/?token=" + token), open_timeout=20)
    recs = await connect(ws_url("/ws/recommendations/%s/?token=%s" % (basket, token)), open_timeout=20)
    await asyncio.sleep(0.3)  # plain sockets have no handshake of their own
    add_item(token, basket, "COFFEE")
    message = json.loads(await asyncio.wait_for(recs.recv(), 30))
    expect(message["type"] == "recommendation_suggested" and message["basket_id"] == basket, "recommendations socket: %s" % message)
    expect(sorted(r["product_id"] for r in message["recommendations"]) == ["DONUT", "MUFFIN"], "coffee's suggestions: %s" % message)
    expect(message["id"] and message["cursor"] and message["timestamp"], "id, cursor, timestamp: %s" % message)
    ok("/ws/recommendations/{basket}/: COFFEE -> DONUT, MUFFIN in the original's flat shape")
    for _ in range(10):
        add_item(token, basket, "DONUT")
    for socket_ in (fraud, fraud_short):
        alert = json.loads(await asyncio.wait_for(socket_.recv(), 30))
        expect(alert["type"] == "fraud_alert" and alert["rule_id"] == "rapid_items", "fraud socket: %s" % alert)
    ok("/ws/fraud-alerts/{terminal}/ and /ws/fraud/{terminal}/: the rapid_items alert")
    # Signing in on another terminal ends this session: the till is told, then its sockets close.
    login("live_c3", "LIVE-W2")
    ended = json.loads(await asyncio.wait_for(session.recv(), 30))
    expect(ended["type"] == "session_terminated" and ended["terminal_id"] == "LIVE-W1", "session socket: %s" % ended)
    ok("/ws/session/{terminal}/: a login on a second terminal pushes SESSION_TERMINATED (%s) to the first" % ended.get("reason"))
    code, reason = await close_code(session, 20)
    expect(code == 4401, "the revoked session's socket: %s %s" % (code, reason))
    code, _ = await close_code(recs, 20)
    expect(code == 4401, "its other sockets too: %s" % code)
    ok("the revoked token's sockets are closed with 4401 (%s)" % reason)
    code, _ = await close_code(await connect(ws_url("/ws/session/LIVE-W2/"), open_timeout=20))
    expect(code == 4401, "without a token: %s" % code)
    fresh = login("live_c3", "LIVE-W3")
    code, _ = await close_code(await connect(ws_url("/ws/session/LIVE-W9/?token=" + fresh), open_timeout=20))
    expect(code == 4403, "another terminal's socket: %s" % code)
    code, _ = await close_code(await connect(ws_url("/ws/session/LIVE-W3/?token=" + token), open_timeout=20))
    expect(code == 4401, "the ended session's token: %s" % code)
    ok("refused without a token (4401), for another terminal (4403), with an ended session's token (4401)")


async def logout_closes():
    token = login("live_c4", "LIVE-L1")
    client = await Client.open(token)
    await client.subscribe("t", 'subscription { terminalEvents(terminalId: "LIVE-L1") { id } }')
    answer = gql('mutation { logout(terminalId: "LIVE-L1") { success } }', token=token)
    expect(answer.get("data"), "logout: %s" % answer)
    code, reason = await close_code(client.ws, 20)
    expect(code == 4401, "after logout: %s %s" % (code, reason))
    ok("logout closes the session's graphql-transport-ws socket with 4401 (%s)" % reason)


async def many():
    manager = login("live_mgr", "LIVE-MGR")
    terminals = ["LIVE-M%03d" % index for index in range(200)]
    clients = await asyncio.gather(*(Client.open(manager) for _ in terminals))
    for client, terminal in zip(clients, terminals):
        await client.subscribe("t", "subscription($t: String!) { terminalEvents(terminalId: $t) { id type timeMs payload } }", {"t": terminal})
    ok("200 subscribers connected")
    events = []
    for sequence in range(5):
        for terminal in terminals:
            events.append(emitted("FRAUD_ALERT", terminal, sequence=sequence, rule_id="test", severity="LOW"))
    produce(events)
    results = await asyncio.gather(*(client.data("t", "terminalEvents", 5, timeout=60) for client in clients))
    latencies = []
    for terminal, received in zip(terminals, results):
        sequences = [json.loads(r["payload"])["sequence"] for r in received]
        expect(sequences == [0, 1, 2, 3, 4], "%s received %s" % (terminal, sequences))
        now = time.time() * 1000
        latencies += [now - int(r["timeMs"]) for r in received]
    ok("200 subscribers each received their 5 events, in order, none of another till's")
    await asyncio.gather(*(client.ws.close() for client in clients))


def live_statistics(api=None):
    return requests.get((api or ARGS.api) + "/health", timeout=10).json()["live"]


async def slow():
    manager = login("live_mgr", "LIVE-MGR")
    # The slow till: a tiny receive buffer, and it stops reading.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = ARGS.api.replace("http://", "").split(":")
    sock.connect((host, int(port)))
    sluggish = await Client.open(manager, sock=sock, max_queue=1)
    await sluggish.subscribe("t", 'subscription { terminalEvents(terminalId: "LIVE-SLOW") { id payload } }')
    brisk = await Client.open(manager)
    await brisk.subscribe("t", 'subscription { terminalEvents(terminalId: "LIVE-FAST") { id timeMs payload } }')
    dropped_before = live_statistics()["dropped_slow"]
    padding = "x" * 1500
    events = []
    for sequence in range(3000):
        events.append(emitted("FRAUD_ALERT", "LIVE-SLOW", sequence=sequence, padding=padding))
        if sequence % 60 == 0:
            events.append(emitted("FRAUD_ALERT", "LIVE-FAST", sequence=sequence // 60))
    produce(events)
    received = await brisk.data("t", "terminalEvents", 50, timeout=60)
    sequences = [json.loads(r["payload"])["sequence"] for r in received]
    expect(sequences == list(range(50)), "the brisk till got %s" % sequences)
    now = time.time() * 1000
    worst = max(now - int(r["timeMs"]) for r in received)
    ok("the brisk till got all 50 of its events in order while the other stalled (the last %.0f ms after it was made, behind a 4.5 MB burst)" % worst)
    deadline = time.monotonic() + 30
    while live_statistics()["dropped_slow"] <= dropped_before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    expect(live_statistics()["dropped_slow"] > dropped_before, "the slow subscriber was not dropped")
    code, reason = await close_code(sluggish.ws, 30)
    expect(code in (1013, 1006), "the slow till's close: %s %s" % (code, reason))
    ok("the slow till was dropped (close %s%s), the hub counted it" % (code, " " + reason if reason else ", its close frame stuck behind unread data"))
    # The brisk one is still served.
    produce([emitted("FRAUD_ALERT", "LIVE-FAST", sequence=50)])
    more = await brisk.data("t", "terminalEvents", 1, timeout=30)
    expect(more and json.loads(more[0]["payload"])["sequence"] == 50, "after the drop: %s" % more)
    ok("the brisk till keeps receiving after the slow one was dropped")


def wait_started(api):
    deadline = time.monotonic() + 30
    while not live_statistics(api)["started"]:
        expect(time.monotonic() < deadline, "the live feed of %s did not start" % api)
        time.sleep(0.1)


async def resume():
    wait_started(ARGS.api)
    wait_started(ARGS.second)
    manager = login("live_mgr", "LIVE-MGR")
    query = 'subscription($after: String) { terminalEvents(terminalId: "LIVE-R1", after: $after) { id cursor payload } }'
    first = await Client.open(manager)
    await first.subscribe("t", query, {"after": None})
    produce([emitted("FRAUD_ALERT", "LIVE-R1", sequence=n) for n in range(3)])
    seen = await first.data("t", "terminalEvents", 3)
    expect([json.loads(s["payload"])["sequence"] for s in seen] == [0, 1, 2], "before the drop: %s" % seen)
    await first.ws.close()
    produce([emitted("FRAUD_ALERT", "LIVE-R1", sequence=n) for n in range(3, 7)])
    for label, after, api in [("cursor", seen[-1]["cursor"], None), ("event id", seen[-1]["id"], None), ("cursor on a second instance", seen[-1]["cursor"], ARGS.second)]:
        again = await Client.open(manager, api=api)
        await again.subscribe("t", query, {"after": after})
        got = await again.data("t", "terminalEvents", 4, timeout=30)
        extra = await again.data("t", "terminalEvents", 1, timeout=1)
        sequences = [json.loads(g["payload"])["sequence"] for g in got + extra]
        expect(sequences == [3, 4, 5, 6], "resumed by %s: %s" % (label, sequences))
        ok("resumed by the last %s: exactly the 4 missed events, in order (no gap, no repeat)" % label)
        await again.ws.close()
    # Plain sockets resume too.
    plain_socket = await connect(ws_url("/ws/fraud/LIVE-R1/?after=" + seen[-1]["cursor"] + "&token=" + manager), open_timeout=20)
    sequences = [json.loads(await asyncio.wait_for(plain_socket.recv(), 20))["sequence"] for _ in range(4)]
    expect(sequences == [3, 4, 5, 6], "plain socket resumed: %s" % sequences)
    ok("/ws/fraud/{terminal}/?after=<cursor> resumes the same way")
    await plain_socket.close()


async def too_old():
    wait_started(ARGS.second)
    manager = login("live_mgr", "LIVE-MGR")
    client = await Client.open(manager, api=ARGS.second)
    await client.ws.send(json.dumps({"type": "subscribe", "id": "old", "payload": {
        "query": 'subscription { terminalEvents(terminalId: "LIVE-R1", after: "0:0,1:0,2:0") { id } }'}}))
    answer = json.loads(await asyncio.wait_for(client.ws.recv(), 20))
    expect(answer["type"] == "error" and answer["payload"][0]["extensions"]["code"] == "RESUME_TOO_OLD", "too old: %s" % answer)
    ok("a cursor from before the retention window: RESUME_TOO_OLD (reload, then subscribe)")
    # The 450 records that were not events were counted and skipped; pushes go on after them.
    skipped = live_statistics()["not_events"]
    expect(skipped >= 450, "records that were not events counted: %s" % skipped)
    watcher = await Client.open(manager)
    await watcher.subscribe("t", 'subscription { terminalEvents(terminalId: "LIVE-R9") { id } }')
    produce([emitted("FRAUD_ALERT", "LIVE-R9", sequence=0)])
    expect(len(await watcher.data("t", "terminalEvents", 1, timeout=30)) == 1, "no push after the records that were not events")
    ok("%d records that were not events were counted and skipped; the next event was pushed" % skipped)


SCENARIOS = {"protocol": protocol, "subscriptions": subscriptions, "plain": plain, "logout": logout_closes, "many": many, "slow": slow, "resume": resume,
             "too_old": too_old}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--second")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    ARGS = parser.parse_args()
    asyncio.run(SCENARIOS[ARGS.scenario]())
