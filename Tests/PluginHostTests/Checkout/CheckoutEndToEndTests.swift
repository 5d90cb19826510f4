import Foundation
import Testing

@testable import POSCheckout
@testable import PluginHost

/// The checkout over real HTTP against running pos-api and pos-host processes: PostgreSQL, the
/// Kafka cluster, the five POS plugins in worker processes.
@Suite(.serialized, .timeLimit(.minutes(10))) struct CheckoutEndToEndTests {
    func store() throws -> CheckoutStore { try CheckoutStore.shared.get() }

    /// A licence of someone born on 15 January 1990, valid until 2035.
    static let adultLicence = AAMVABarcodeTests.card(["DAQD1234567", "DCSPUBLIC", "DACJOHN", "DBB01151990", "DBA01152035", "DCGUSA"])
    /// A licence of someone who turns 18 in 2040.
    static let minorLicence = AAMVABarcodeTests.card(["DAQD7654321", "DCSYOUNG", "DBB06012022", "DBA06012035", "DCGUSA"])

    @Test func theOriginalsTransactionThroughGraphQLOnly() async throws {
        let store = try store()
        let till = try await store.client.signedIn("john", "password123", terminal: "TERM101")

        let started = try await till.send(
            #"mutation { startBasket(employeeId: 1, terminalId: "TERM101", customerIdentifier: "+1 (234) 567-890") { basketId status basket { customer { customerId name tier } } } }"#)
        let basket = started.field("startBasket")["basketId"]?.stringValue ?? ""
        #expect(started.field("startBasket")["basket"]?["customer"]?["tier"] == .string("GOLD"))

        // The client's price and name are ignored: the catalogue's apply.
        let burger = try await till.send(
            "mutation($b: String!) { addItem(basketId: $b, productId: \"BURGER\", productName: \"Free burger\", quantity: 1, price: 0.01, terminalId: \"TERM101\") { success basketTotal appliedPriceCents clientValuesIgnored position { partition offset } } }",
            ["b": .string(basket)])
        #expect(burger.field("addItem")["appliedPriceCents"] == .number(899))
        #expect(burger.field("addItem")["clientValuesIgnored"] == .bool(true))
        #expect(burger.field("addItem")["basketTotal"] == .number(8.99))

        let beer = try await till.send(
            "mutation($b: String!) { addItem(basketId: $b, productId: \"BEER\", productName: \"Beer\", quantity: 1, price: 4.99) { basket { totalCents items { productId ageRestricted minimumAge } } } }",
            ["b": .string(basket)])
        #expect(beer.field("addItem")["basket"]?["totalCents"] == .number(1398))

        // Paying before the age check: refused by age_verification, nothing charged.
        let refused = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, terminalId: \"TERM101\", employeeId: 1, totalAmount: 13.98, paymentMethod: \"CASH\") { success } }",
            ["b": .string(basket)])
        #expect(refused.code == "PAYMENT_REFUSED")
        #expect(refused.errors.first?["extensions"]?["reason"] == .string("UNVERIFIED_RESTRICTED_ITEMS"))

        // A minor's ID is refused with the plugin's reason; an adult's releases the beer.
        let minor = try await till.send(
            "mutation($b: String!, $scan: String!) { verifyAge(basketId: $b, verifierEmployeeId: 1, idScan: $scan, terminalId: \"TERM101\") { verified reason method } }",
            ["b": .string(basket), "scan": .string(Self.minorLicence)])
        #expect(minor.field("verifyAge")["verified"] == .bool(false))
        let adult = try await till.send(
            "mutation($b: String!, $scan: String!) { verifyAge(basketId: $b, verifierEmployeeId: 1, idScan: $scan, terminalId: \"TERM101\") { verified method } }",
            ["b": .string(basket), "scan": .string(Self.adultLicence)])
        #expect(adult.field("verifyAge")["verified"] == .bool(true))
        #expect(adult.field("verifyAge")["method"] == .string("ID_SCAN"))

        // A recommendation (BURGER -> FRIES, COKE) accepted: the item joins the basket.
        let recommendations = try await till.send("query($b: String!) { pendingRecommendations(basketId: $b) { id productId status } }", ["b": .string(basket)])
        let fries = recommendations.field("pendingRecommendations").arrayValue?.first { $0["productId"] == .string("FRIES") }
        #expect(fries != nil, "\(recommendations.body.jsonText)")
        let accepted = try await till.send(
            "mutation($id: Int!, $b: String!) { acceptRecommendation(recommendationId: $id, basketId: $b) { success basket { totalCents items { productId } } } }",
            ["id": fries?["id"] ?? .number(0), "b": .string(basket)])
        #expect(accepted.field("acceptRecommendation")["basket"]?["totalCents"] == .number(1697))

        // A wrong total is refused with the server's; the right one is paid, with change.
        let wrong = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, terminalId: \"TERM101\", employeeId: 1, totalAmount: 13.98, paymentMethod: \"CASH\") { success } }",
            ["b": .string(basket)])
        #expect(wrong.code == "BAD_USER_INPUT")
        #expect(wrong.errors.first?["extensions"]?["totalCents"] == .string("1697"))
        let paid = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, terminalId: \"TERM101\", employeeId: 1, totalAmount: 16.97, tenders: [{method: \"CASH\", tendered: 20}], idempotencyKey: \"pay-original-1\") { success totalCents changeCents receiptUrl fraudDecision position { partition offset } } }",
            ["b": .string(basket)])
        #expect(paid.field("processPayment")["changeCents"] == .number(303))
        #expect(paid.field("processPayment")["fraudDecision"] != nil)

        // The receipt, as JSON and as a printable page.
        let receiptURL = (paid.field("processPayment")["receiptUrl"]?.stringValue ?? "") + ".json"
        let (status, receipt) = try await till.raw([], method: "GET", path: receiptURL)
        #expect(status == 200)
        #expect((try? JSONValue.parse(receipt))?["total_cents"] == .number(1697))
        let (pageStatus, page) = try await till.raw([], method: "GET", path: paid.field("processPayment")["receiptUrl"]?.stringValue ?? "")
        #expect(pageStatus == 200 && String(decoding: page, as: UTF8.self).contains("16.97"))

        let logout = try await till.send(#"mutation { logout(terminalId: "TERM101") { success } }"#)
        #expect(logout.field("logout")["success"] == .bool(true))
        let afterLogout = try await till.send("{ me { id } }")
        #expect(afterLogout.code == "UNAUTHENTICATED")

        // The events on Kafka, read back by a consumer of our own: the till's, in order, keyed by
        // the terminal; the ID scan's text nowhere.
        let messages = try StoreEndToEndTests().everything(store.cluster.bootstrapServers)
        let mine = messages.filter { $0.key == Array("TERM101".utf8) && $0.headers["pos.source"] == Array("pos-api".utf8) }
        let types = mine.compactMap { $0.headers["pos.type"].map { String(decoding: $0, as: UTF8.self) } }
        #expect(types == [
            "EMPLOYEE_LOGIN", "BASKET_STARTED", "ITEM_ADDED", "ITEM_ADDED", "PAYMENT_INITIATED", "AGE_VERIFIED", "AGE_VERIFIED", "RECOMMENDATION_ACCEPTED",
            "ITEM_ADDED", "PAYMENT_INITIATED", "PAYMENT_PROCESSED", "BASKET_CLOSED", "EMPLOYEE_LOGOUT",
        ])
        let everything = messages.map { String(decoding: $0.value, as: UTF8.self) }.joined()
        #expect(!everything.contains("D1234567") && !everything.contains("PUBLIC") && !everything.contains("DBB"))
        let processed = mine.first { $0.headers["pos.type"] == Array("PAYMENT_PROCESSED".utf8) }.flatMap { try? JSONValue.parse($0.value) }
        #expect(processed?["payload"]?["amount"] == .number(16.97))
        // The plugins saw it all: customer_lookup recorded the purchase for John.
        let manager = try await till.signedIn("jane", "password123", terminal: "TERM102")
        var recorded = false
        for _ in 0..<100 where !recorded {
            let purchases = try await manager.send(#"{ customerPurchases(customerId: "CUST_001") { basketId amount } }"#)
            recorded = purchases.data?["customerPurchases"]?.arrayValue?.contains { $0["basketId"] == .string(basket) } == true
            if !recorded { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(recorded, "customer_lookup found John through pos-api's directory and recorded the purchase")
    }

    @Test func theSamePaymentSentTenTimesAtOnceChargesOnce() async throws {
        let store = try store()
        let till = try await store.client.signedIn("john", "password123", terminal: "TERM103")
        let basket = try await till.send(#"mutation { startBasket(terminalId: "TERM103") { basketId } }"#).field("startBasket")["basketId"]?.stringValue ?? ""
        _ = try await till.send("mutation($b: String!) { addItem(basketId: $b, productId: \"LAPTOP_BAG\", quantity: 2) { success } }", ["b": .string(basket)])
        let key = "double-click-" + UUID().uuidString
        let answers = try await withThrowingTaskGroup(of: GraphQLClient.Answer.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await till.send(
                        "mutation($b: String!, $k: String!) { processPayment(basketId: $b, tenders: [{method: \"CARD\"}], idempotencyKey: $k) { success totalCents paidAt tenders { reference } } }",
                        ["b": .string(basket), "k": .string(key)])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let results = answers.compactMap { $0.data?["processPayment"] }
        #expect(results.count == 10, "\(answers.map(\.body.jsonText))")
        #expect(Set(results.map(\.jsonText)).count == 1, "every retry gets the first result")
        let db = try PostgresConnection(conninfo: store.database, logger: TestSupport.quietLogger)
        #expect(try db.execute("SELECT count(*) FROM api_tenders WHERE basket_id = $1", [.text(basket)]).int(0, 0) == 1)
        #expect(try db.execute("SELECT count(*) FROM api_card_attempts WHERE basket_id = $1 AND outcome = 'APPROVED'", [.text(basket)]).int(0, 0) == 1)
        #expect(try db.execute("SELECT count(*) FROM api_outbox WHERE type = 'PAYMENT_PROCESSED' AND convert_from(value, 'UTF8') LIKE '%' || $1 || '%'", [.text(basket)]).int(0, 0) == 1)
        // The same key for another basket is refused; paying the paid basket again under a new key too.
        let other = try await till.send(#"mutation { startBasket(terminalId: "TERM103") { basketId } }"#).field("startBasket")["basketId"]?.stringValue ?? ""
        _ = try await till.send("mutation($b: String!) { addItem(basketId: $b, productId: \"COKE\") { success } }", ["b": .string(other)])
        let reused = try await till.send(
            "mutation($b: String!, $k: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: $k) { success } }", ["b": .string(other), "k": .string(key)])
        #expect(reused.code == "CONFLICT")
        let again = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: \"another-key-1\") { success } }", ["b": .string(basket)])
        #expect(again.code == "CONFLICT")
    }

    @Test func aBasketBlockedByFraudIsPaidOnlyWithAManagersOverride() async throws {
        let store = try store()
        let till = try await store.client.signedIn("john", "password123", terminal: "TERM104")
        let basket = try await till.send(#"mutation { startBasket(terminalId: "TERM104") { basketId } }"#).field("startBasket")["basketId"]?.stringValue ?? ""
        for product in ["LAPTOP", "MOUSE"] {
            _ = try await till.send("mutation($b: String!, $p: String!) { addItem(basketId: $b, productId: $p) { success } }", ["b": .string(basket), "p": .string(product)])
        }
        // 1,029.98 right after login, no customer, seconds after the basket started: blocked.
        let blocked = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CARD\", idempotencyKey: \"fraud-1-attempt\") { success } }", ["b": .string(basket)])
        #expect(blocked.code == "PAYMENT_REFUSED", "\(blocked.body.jsonText)")
        #expect(blocked.errors.first?["extensions"]?["reason"] == .string("FRAUD_BLOCK"))
        // The cashier cannot override their own block; a wrong manager password is refused.
        let selfApproved = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CARD\", idempotencyKey: \"fraud-1-self\", overrideUsername: \"john\", overridePassword: \"password123\") { success } }",
            ["b": .string(basket)])
        #expect(selfApproved.code == "FORBIDDEN")
        let wrongPassword = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CARD\", idempotencyKey: \"fraud-1-wrong\", overrideUsername: \"jane\", overridePassword: \"nope\") { success } }",
            ["b": .string(basket)])
        #expect(wrongPassword.code == "UNAUTHENTICATED")
        let overridden = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CARD\", idempotencyKey: \"fraud-1-override\", overrideUsername: \"jane\", overridePassword: \"password123\") { success fraudDecision overriddenBy totalCents } }",
            ["b": .string(basket)])
        #expect(overridden.field("processPayment")["fraudDecision"] == .string("block"))
        #expect(overridden.field("processPayment")["overriddenBy"] == .number(2))
        let db = try PostgresConnection(conninfo: store.database, logger: TestSupport.quietLogger)
        #expect(try db.execute("SELECT count(*) FROM api_approvals WHERE basket_id = $1 AND kind = 'FRAUD_OVERRIDE' AND approver_employee_id = 2", [.text(basket)]).int(0, 0) == 1)
    }

    @Test func rolesAreCheckedAndPluginsToggleThroughTheSharedStore() async throws {
        let store = try store()
        let cashier = try await store.client.signedIn("john", "password123", terminal: "TERM105")
        let refused = try await cashier.send(#"mutation { updatePlugin(id: "purchase_recommender", enabled: false) { enabled } }"#)
        #expect(refused.code == "FORBIDDEN")
        #expect(try await cashier.send("{ plugins { name } }").code == "FORBIDDEN")
        #expect(try await cashier.send("{ allCustomers { id } }").code == "FORBIDDEN")

        let admin = try await store.client.signedIn("admin", "admin123", terminal: "BACKOFFICE")
        let listed = try await admin.send("{ plugins { name enabled state handled } }")
        #expect(listed.field("plugins").arrayValue?.contains { $0["name"] == .string("fraud_detection") && $0["state"] == .string("running") } == true)
        let disabled = try await admin.send(#"mutation { updatePlugin(id: "basket_tally", enabled: true) { name enabled } }"#)
        #expect(disabled.field("updatePlugin")["enabled"] == .bool(true))
        // pluginctl sees the change (through PostgreSQL and the host), and the reverse.
        #expect(TestSupport.eventually(within: 10) { (try? store.host.plugin("basket_tally"))?.enabled == true })
        _ = try store.host.pluginctl("disable", "basket_tally")
        let seen = try await admin.send("{ plugins { name enabled } }")
        #expect(seen.field("plugins").arrayValue?.first { $0["name"] == .string("basket_tally") }?["enabled"] == .bool(false))
        let audit = try await admin.send(#"{ pluginAudit(id: "basket_tally") { changedBy } }"#)
        #expect(audit.field("pluginAudit").arrayValue?.contains { $0["changedBy"] == .string("pos-api:admin") } == true)
        // Settings are checked against the schema the running plugin declares, merged over its
        // defaults; a refusal lists each violation at its path and changes nothing.
        let before = try await admin.send(#"{ plugins { name configVersion settingsSchema defaultSettings } }"#)
        let fraud = before.field("plugins").arrayValue?.first { $0["name"] == .string("fraud_detection") }
        #expect(fraud?["settingsSchema"]?.stringValue?.contains("\"properties\"") == true && fraud?["defaultSettings"]?.stringValue?.contains("block_at") == true)
        let invalid = try await admin.send(#"mutation { updatePlugin(id: "fraud_detection", config: "{\"block_at\": -5, \"nonsense\": 1}") { name } }"#)
        #expect(invalid.code == "BAD_USER_INPUT", "\(invalid.body.jsonText)")
        let violations = (try? JSONValue.parse(invalid.errors.first?["extensions"]?["violations"]?.stringValue ?? "")).flatMap(\.arrayValue) ?? []
        #expect(Set(violations.compactMap { $0["path"]?.stringValue }) == ["/block_at", "/nonsense"], "\(invalid.body.jsonText)")
        let after = try await admin.send(#"{ plugins { name configVersion } }"#)
        #expect(after.field("plugins").arrayValue?.first { $0["name"] == .string("fraud_detection") }?["configVersion"] == fraud?["configVersion"])
        #expect(try await admin.send(#"mutation { updatePlugin(id: "fraud_detection", config: "[1]") { name } }"#).code == "BAD_USER_INPUT")
        #expect(try await admin.send(#"mutation { updatePlugin(id: "fraud_detection", config: "{nope") { name } }"#).code == "BAD_USER_INPUT")
        // Settings the schema and the plugin accept are stored and applied.
        let accepted = try await admin.send(#"mutation { updatePlugin(id: "basket_tally", config: "{}") { name configVersion } }"#)
        #expect(accepted.code == nil, "\(accepted.body.jsonText)")
    }

    @Test func badInputIsRefusedWithACodeAndNothingHalfDone() async throws {
        let store = try store()
        let anonymous = store.client
        #expect(try await anonymous.send("{ products { id } }").code == "UNAUTHENTICATED")
        var forged = anonymous
        forged.token = "not-a-token"
        #expect(try await forged.send("{ products { id } }").code == "UNAUTHENTICATED")
        #expect(try await anonymous.send("{ products { id ").code == "GRAPHQL_PARSE_FAILED")
        #expect(try await anonymous.send("{ nothingHere }").code == "GRAPHQL_VALIDATION_FAILED")
        // 10,000 nested selections in a 50 KB body once overflowed pos-api's stack in the parser.
        let tooNested = "{" + String(repeating: " a {", count: 10_000) + " b " + String(repeating: "}", count: 10_001)
        #expect(try await anonymous.send(tooNested).code == "QUERY_TOO_COMPLEX")
        #expect(try await anonymous.send("{ products { id } }").code == "UNAUTHENTICATED", "pos-api still answers")

        let till = try await store.client.signedIn("john", "password123", terminal: "TERM106")
        let deep = "{ activeBaskets { " + String(repeating: "customer { ", count: 1) + "id } items { productId } basket: id } }"
        #expect(try await till.send(deep).errors.isEmpty)
        let nested = (0..<40).map { _ in "... on Query { " }.joined() + "me { id }" + String(repeating: " }", count: 40)
        #expect(try await till.send("{ " + nested + " }").errors.isEmpty, "fragments do not count as depth")
        let wide = "{ " + (0..<500).map { "a\($0): me { id }" }.joined(separator: " ") + " }"
        #expect(try await till.send(wide).code == "QUERY_TOO_COMPLEX")

        let (tooLarge, _) = try await till.raw(Array(repeating: UInt8(ascii: " "), count: 100_000) + Array(#"{"query":"{ me { id } }"}"#.utf8))
        #expect(tooLarge == 413)
        let (notJSON, _) = try await till.raw(Array("query=1".utf8))
        #expect(notJSON == 400)
        let (mutationByGet, body) = try await till.raw([], method: "GET", path: "/graphql?query=" + "mutation { logout { success } }".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        #expect(mutationByGet == 200 && String(decoding: body, as: UTF8.self).contains("BAD_REQUEST"))
        let (strict, _) = try await till.raw(Array(#"{"query":"{ me { id "}"#.utf8), accept: "application/graphql-response+json")
        #expect(strict == 400)

        let basket = try await till.send(#"mutation { startBasket(terminalId: "TERM106") { basketId } }"#).field("startBasket")["basketId"]?.stringValue ?? ""
        func add(_ product: String, _ quantity: Int) async throws -> GraphQLClient.Answer {
            try await till.send("mutation($b: String!, $p: String!, $q: Int!) { addItem(basketId: $b, productId: $p, quantity: $q) { success } }", ["b": .string(basket), "p": .string(product), "q": .number(Double(quantity))])
        }
        #expect(try await add("NO_SUCH_THING", 1).code == "NOT_FOUND")
        #expect(try await add("COKE", 0).code == "BAD_USER_INPUT")
        #expect(try await add("COKE", -3).code == "BAD_USER_INPUT")
        #expect(try await till.send(#"mutation { addItem(basketId: "b", productId: "COKE", quantity: "two") { success } }"#).code == "GRAPHQL_VALIDATION_FAILED")
        #expect(try await add("COKE", 1).data?["addItem"]?["success"] == .bool(true))
        // John signing in on another terminal ends his session here; from there, this
        // terminal's basket is not his to change (a manager's it is).
        let other = try await store.client.signedIn("jane", "password123", terminal: "TERM107")
        let elsewhere = try await store.client.signedIn("john", "password123", terminal: "TERM108")
        #expect(try await till.send("{ me { id } }").code == "UNAUTHENTICATED")
        #expect(try await elsewhere.send("mutation($b: String!) { addItem(basketId: $b, productId: \"COKE\") { success } }", ["b": .string(basket)]).code == "FORBIDDEN")
        // A manager may.
        #expect(try await other.send("query($b: String!) { basket(basketId: $b) { totalCents } }", ["b": .string(basket)]).data?["basket"]?["totalCents"] == .number(199))
        let db = try PostgresConnection(conninfo: store.database, logger: TestSupport.quietLogger)
        #expect(try db.execute("SELECT count(*) FROM api_basket_lines WHERE basket_id = $1", [.text(basket)]).int(0, 0) == 1, "refused adds left nothing")
    }
}

/// The same transaction driven by an independent client: Python's `requests` (PyPI).
@Suite(.serialized, .timeLimit(.minutes(10))) struct IndependentClientTests {
    @Test func theTransactionThroughPythonRequests() async throws {
        let store = try CheckoutStore.shared.get()
        try store.addEmployees([(950, "indie_cashier", "CASHIER")])
        let script = TestSupport.packageRoot + "/Tests/python/checkout_client.py"
        let result = try await TestSupport.captureOffPool("/usr/bin/env", ["python3", script, store.api.url, "TERM120", "indie_cashier"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok: the original's transaction"))
    }
}

/// Decisions with two pos-host instances sharing the consumer groups and the database: each
/// answer reflects every event of the basket published before the question, whichever host
/// owns the plugin (and the other says so).
@Suite(.serialized, .timeLimit(.minutes(10))) struct TwoHostDecisionTests {
    @Test func everyDecisionSeesTheBasketsEarlierEventsWithTwoHosts() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        defer { cluster.close() }
        let database = try TestDatabase.fresh("twohosts")
        var hosts: [HostProcess] = []
        for index in 0..<2 {
            let host = try HostProcess(
                label: "twohosts-\(index)",
                configText: """
                    plugins_dir: plugins.d
                    control_socket: run/host.sock
                    log_level: info
                    database:
                      url: "\(database)"
                    kafka:
                      bootstrap_servers: "\(cluster.bootstrapServers)"
                      group_prefix: pos

                    """)
            host.process.arguments = ["--config", host.configPath]
            TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
            TestSupport.write("enabled: false\n", to: host.plugins + "/event_counter.yaml")
            for name in ["age_verification", "fraud_detection"] {
                try FileManager.default.copyItem(atPath: TestSupport.product("lib\(name).so"), toPath: host.plugins + "/\(name).so")
                chmod(host.plugins + "/\(name).so", 0o644)
                TestSupport.write("enabled: true\n", to: host.plugins + "/\(name).yaml")
            }
            hosts.append(host)
        }
        let api = try ApiProcess(
            label: "twohosts-api", database: database, bootstrap: cluster.bootstrapServers, hostSockets: hosts.map { $0.directory + "/run/host.sock" })
        try api.start()
        defer {
            api.stop()
            for host in hosts { _ = host.terminate() }
        }
        for host in hosts { try host.start() }
        // Each plugin is consumed by exactly one of the two hosts.
        #expect(TestSupport.eventually(within: 30) {
            ["age_verification", "fraud_detection"].allSatisfy { name in
                hosts.compactMap { try? $0.plugin(name) }.filter { $0.consumedHere == true }.count == 1
            }
        })
        let till = try await GraphQLClient(url: api.url).signedIn("john", "password123", terminal: "TERM200")
        for round in 0..<8 {
            let basket = try await till.send(#"mutation { startBasket(terminalId: "TERM200") { basketId } }"#).field("startBasket")["basketId"]?.stringValue ?? ""
            _ = try await till.send("mutation($b: String!) { addItem(basketId: $b, productId: \"COKE\") { success } }", ["b": .string(basket)])
            _ = try await till.send("mutation($b: String!) { addItem(basketId: $b, productId: \"WINE\") { success } }", ["b": .string(basket)])
            // Asked right after the WINE was published: the gate must already hold it.
            let early = try await till.send("mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: \"early-\(round)-key\") { success } }", ["b": .string(basket)])
            #expect(early.code == "PAYMENT_REFUSED", "round \(round): \(early.body.jsonText)")
            let verified = try await till.send("mutation($b: String!) { verifyAge(basketId: $b, customerAge: 40) { verified } }", ["b": .string(basket)])
            #expect(verified.field("verifyAge")["verified"] == .bool(true), "round \(round)")
            let paid = try await till.send("mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: \"late-\(round)-key\") { success } }", ["b": .string(basket)])
            #expect(paid.data?["processPayment"]?["success"] == .bool(true), "round \(round): \(paid.body.jsonText)")
        }
        // The host that does not own a plugin says so, rather than answer from stale state.
        let owner = hosts.firstIndex { (try? $0.plugin("age_verification"))?.consumedHere == true } ?? 0
        let other = hosts[1 - owner]
        let socket = other.directory + "/run/host.sock"
        let request = ControlRequest(
            command: .query, plugin: "age_verification", query: "payment_gate", request: #"{"basket_id":"x"}"#,
            after: [.init(topic: "pos-events", partition: 0, offset: 0)], waitMilliseconds: 100)
        let answer = try ControlClient.send(request, socketPath: socket, timeoutMilliseconds: 5000)
        #expect(answer.code == "not_owner")
    }
}
