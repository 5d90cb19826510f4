#!/usr/bin/env python3
"""An independent client of pos-api: the original's transaction through GraphQL over HTTP with
the `requests` library (PyPI), so the API is not tested only by its own code.

Usage: checkout_client.py http://127.0.0.1:PORT TERMINAL
Exits 0 when every step answered as the API documents, else prints the step and exits 1.
"""
import json
import sys
import uuid

import requests

URL, TERMINAL = sys.argv[1], sys.argv[2]
# The cashier to sign in as (a suite of its own, so other suites signing john in elsewhere do not end it).
USERNAME = sys.argv[3] if len(sys.argv) > 3 else "john"
session = requests.Session()


def gql(query, variables=None, token=None, expect_error=None):
    headers = {"Accept": "application/graphql-response+json, application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    response = session.post(URL + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)
    body = response.json()
    if expect_error:
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if expect_error not in codes:
            fail(f"expected {expect_error}, got {json.dumps(body)}")
        return body["errors"][0]
    if body.get("errors"):
        fail(f"{query[:60]}...: {json.dumps(body['errors'])}")
    return body["data"]


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


login = gql("mutation($u: String!, $t: String) { login(username: $u, password: \"password123\", terminalId: $t) { token employee { id username role } terminal { terminalId } } }",
            {"u": USERNAME, "t": TERMINAL})["login"]
check(login["employee"]["role"] == "CASHIER" and login["terminal"]["terminalId"] == TERMINAL, f"login: {login}")
token = login["token"]

EMPLOYEE = int(login["employee"]["id"])
basket = gql("mutation($e: Int!, $t: String!) { startBasket(employeeId: $e, terminalId: $t, customerIdentifier: \"john@example.com\") { basketId status basket { customer { name tier } } } }",
             {"e": EMPLOYEE, "t": TERMINAL}, token)["startBasket"]
check(basket["status"] == "OPEN" and basket["basket"]["customer"]["name"] == "John Doe", f"startBasket: {basket}")
basket_id = basket["basketId"]

added = gql("mutation($b: String!) { addItem(basketId: $b, productId: \"BURGER\", productName: \"Cheeseburger\", quantity: 1, price: 8.99) { success basketTotal } }",
            {"b": basket_id}, token)["addItem"]
check(added["success"] and abs(added["basketTotal"] - 8.99) < 1e-9, f"addItem: {added}")
gql("mutation($b: String!) { addItem(basketId: $b, productId: \"WINE\", productName: \"Wine\", quantity: 1, price: 1.00) { success } }", {"b": basket_id}, token)

error = gql("mutation($b: String!, $e: Int!) { processPayment(basketId: $b, terminalId: \"x\", employeeId: $e, totalAmount: 21.98, paymentMethod: \"CASH\") { success } }",
            {"b": basket_id, "e": EMPLOYEE}, token, expect_error="PAYMENT_REFUSED")
check(error["extensions"].get("plugin") == "age_verification", f"refusal names the plugin: {error}")

verified = gql("mutation($b: String!, $t: String!, $e: Int!) { verifyAge(basketId: $b, verifierEmployeeId: $e, customerAge: 34, terminalId: $t, verificationMethod: \"MANUAL_CHECK\") { verified } }",
               {"b": basket_id, "t": TERMINAL, "e": EMPLOYEE}, token)["verifyAge"]
check(verified["verified"], f"verifyAge: {verified}")

pending = gql("query($b: String!) { pendingRecommendations(basketId: $b) { id productId } }", {"b": basket_id}, token)["pendingRecommendations"]
check(any(r["productId"] == "FRIES" for r in pending), f"recommendations: {pending}")
fries = next(r for r in pending if r["productId"] == "FRIES")
gql("mutation($id: Int!, $b: String!) { acceptRecommendation(recommendationId: $id, basketId: $b) { success } }", {"id": fries["id"], "b": basket_id}, token)

details = gql("query($b: String!) { basketDetails(basketId: $b) { totalCents items { productId } } }", {"b": basket_id}, token)["basketDetails"]
check(details["totalCents"] == 899 + 1299 + 299, f"basketDetails: {details}")
key = str(uuid.uuid4())
payment = gql("mutation($b: String!, $k: String!) { processPayment(basketId: $b, totalAmount: 24.97, tenders: [{method: \"CASH\", tendered: 30}], idempotencyKey: $k) { success changeCents receiptUrl } }",
              {"b": basket_id, "k": key}, token)["processPayment"]
check(payment["success"] and payment["changeCents"] == 503, f"payment: {payment}")
again = gql("mutation($b: String!, $k: String!) { processPayment(basketId: $b, totalAmount: 24.97, tenders: [{method: \"CASH\", tendered: 30}], idempotencyKey: $k) { changeCents } }",
            {"b": basket_id, "k": key}, token)["processPayment"]
check(again["changeCents"] == 503, "a retry returns the first result")

receipt = session.get(URL + payment["receiptUrl"] + ".json", headers={"Authorization": "Bearer " + token}, timeout=30)
check(receipt.status_code == 200 and receipt.json()["total_cents"] == 2497, f"receipt: {receipt.status_code} {receipt.text[:200]}")
schema = session.get(URL + "/graphql/schema.graphql", timeout=30)
check(schema.status_code == 200 and "processPayment" in schema.text, "the SDL is served")

gql("mutation($t: String) { logout(terminalId: $t) { success } }", {"t": TERMINAL}, token)
gql("{ me { id } }", token=token, expect_error="UNAUTHENTICATED")
print("ok: the original's transaction through requests, basket", basket_id)
