import Foundation
import Testing

@testable import PluginHost

/// The five POS plugins as the host runs them: worker processes fed by the embedded Kafka
/// cluster, the customer directory a real local HTTP server. The original's complete
/// transaction, then a basket that trips every fraud rule.
@Suite(.serialized, .timeLimit(.minutes(10))) struct StoreEndToEndTests {
    static let five = ["employee_time_tracker", "customer_lookup", "purchase_recommender", "fraud_detection", "age_verification"]

    static func line(_ type: String, _ time: String, _ fields: [String: JSONValue]) -> (key: String, line: String) {
        var flat = fields
        flat["event_type"] = .string(type)
        flat["timestamp"] = .string("2026-11-25T\(time)Z")
        let key = fields["basket_id"]?.stringValue ?? fields["terminal_id"]?.stringValue ?? ""
        return (key, JSONValue.object(flat).jsonText)
    }

    func query(_ host: HostProcess, _ plugin: String, _ name: String, _ request: String) -> JSONValue? {
        guard let result = try? host.pluginctl("query", plugin, name, request), result.status == 0 else { return nil }
        return try? JSONValue.parse(result.output)
    }

    /// Every message on the topic, read until it has been quiet for a second and a half.
    func everything(_ bootstrap: String) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(bootstrapServers: bootstrap, groupId: "reader-\(UUID().uuidString)", topics: ["pos-events"])
        defer { consumer.close() }
        var messages: [KafkaMessage] = []
        var last = Date()
        let deadline = Date(timeIntervalSinceNow: 30)
        while Date() < deadline && (messages.isEmpty || Date().timeIntervalSince(last) < 1.5) {
            if let message = try consumer.poll(timeoutMilliseconds: 100) {
                messages.append(message)
                last = Date()
            }
        }
        return messages
    }

    @Test func theOriginalsTransactionAndEveryFraudRuleThroughKafkaAndWorkers() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        defer { cluster.close() }
        let directory = try TestHTTPServer { path in
            path == "/customers/%2B1234567890/" ? .init(status: 200, body: CustomerLookupTests.john) : .init(status: 404, body: "{}")
        }
        let host = try HostProcess.onKafka(label: "store", bootstrap: cluster.bootstrapServers)
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
        TestSupport.write("enabled: false\n", to: host.plugins + "/event_counter.yaml")
        for name in Self.five {
            try FileManager.default.copyItem(atPath: TestSupport.product("lib\(name).so"), toPath: host.plugins + "/\(name).so")
            chmod(host.plugins + "/\(name).so", 0o644)
            TestSupport.write(name == "customer_lookup" ? "enabled: true\nsettings:\n  api_endpoint: \"\(directory.endpoint)\"\n" : "enabled: true\n", to: host.plugins + "/\(name).yaml")
        }
        try host.start()
        let running = try host.status().plugins.filter { $0.state == .running }
        #expect(Set(running.map(\.name)) == Set(Self.five) && running.allSatisfy { $0.isolation == "process" && $0.worker?.pid != nil })
        let bootstrap = cluster.bootstrapServers
        let basket = "basket_1a2b3c4d"

        // The original's transaction. Sessions are keyed by terminal, baskets by basket (other
        // partitions), so each phase waits for the previous one as a real till would.
        try KafkaEndToEndTests.produce([Self.line("EMPLOYEE_LOGIN", "09:00:00", ["employee_id": .number(1), "terminal_id": .string("TERM001")])], to: bootstrap)
        #expect(TestSupport.eventually(within: 20) { query(host, "employee_time_tracker", "entries", #"{"employee_id": 1}"#)?["entries"]?.arrayValue?.count == 1 })
        try KafkaEndToEndTests.produce(
            [
                Self.line("BASKET_STARTED", "09:01:00", ["basket_id": .string(basket), "terminal_id": .string("TERM001"), "employee_id": .number(1), "customer_identifier": .string("+1 234 567 890")]),
                Self.line("ITEM_ADDED", "09:01:10", ["basket_id": .string(basket), "product_id": .string("BURGER"), "quantity": .number(2), "price": .number(8.99)]),
                Self.line("ITEM_ADDED", "09:01:30", ["basket_id": .string(basket), "product_id": .string("BEER"), "quantity": .number(6), "price": .number(4.99)]),
                Self.line("AGE_VERIFIED", "09:02:00", ["basket_id": .string(basket), "verifier_employee_id": .number(1), "customer_age": .number(34)]),
                Self.line("PAYMENT_INITIATED", "09:02:50", ["basket_id": .string(basket), "amount": .number(47.92)]),
                Self.line("PAYMENT_PROCESSED", "09:03:00", ["basket_id": .string(basket), "amount": .number(47.92), "employee_id": .number(1)]),
            ], to: bootstrap)
        #expect(TestSupport.eventually(within: 20) { query(host, "customer_lookup", "customer_purchases", #"{"customer_id": "CUST_001"}"#)?.arrayValue?.count == 1 })
        #expect(TestSupport.eventually(within: 20) { query(host, "fraud_detection", "assessment", #"{"basket_id": "\#(basket)"}"#)?["decision"] == .string("allow") })
        try KafkaEndToEndTests.produce([Self.line("EMPLOYEE_LOGOUT", "09:30:00", ["employee_id": .number(1), "terminal_id": .string("TERM001")])], to: bootstrap)
        #expect(TestSupport.eventually(within: 20) {
            query(host, "employee_time_tracker", "entries", #"{"employee_id": 1}"#)?["entries"]?.arrayValue?.first?["total_hours"] == .number(0.5)
        })
        #expect(query(host, "age_verification", "payment_gate", #"{"basket_id": "\#(basket)"}"#)?["allowed"] == .bool(true))
        #expect(query(host, "customer_lookup", "customer_purchases", #"{"customer_id": "CUST_001"}"#)?.arrayValue?.first?["lines"]?.arrayValue?.count == 2)

        // A basket that trips every fraud rule (employee 9 on two terminals, no customer).
        try KafkaEndToEndTests.produce(
            [
                Self.line("EMPLOYEE_LOGIN", "10:00:00", ["employee_id": .number(9), "terminal_id": .string("TERM002")]),
                Self.line("EMPLOYEE_LOGIN", "10:00:01", ["employee_id": .number(9), "terminal_id": .string("TERM003")]),
            ], to: bootstrap)
        #expect(TestSupport.eventually(within: 20) { query(host, "fraud_detection", "alerts", "{}")?.arrayValue?.count == 1 })
        var fraud: [(key: String, line: String)] = [
            Self.line("BASKET_STARTED", "10:00:02", ["basket_id": .string("f1"), "terminal_id": .string("TERM003"), "employee_id": .number(9)]),
            Self.line("ITEM_ADDED", "10:00:03", ["basket_id": .string("f1"), "product_id": .string("WATCH"), "price": .number(200)]),
        ]
        for second in 4..<15 { fraud.append(Self.line("ITEM_ADDED", "10:00:\(second < 10 ? "0" : "")\(second)", ["basket_id": .string("f1"), "product_id": .string("GUM"), "price": .number(1)])) }
        fraud.append(Self.line("ITEM_ADDED", "10:00:15", ["basket_id": .string("f1"), "product_id": .string("WATCH"), "price": .number(100)]))
        for second in 16..<26 { fraud.append(Self.line("ITEM_REMOVED", "10:00:\(second)", ["basket_id": .string("f1"), "product_id": .string("GUM"), "price": .number(1)])) }
        fraud.append(Self.line("ITEM_REMOVED", "10:00:26", ["basket_id": .string("f1"), "product_id": .string("WATCH"), "price": .number(200)]))
        fraud.append(Self.line("ITEM_REMOVED", "10:00:27", ["basket_id": .string("f1"), "product_id": .string("WATCH"), "price": .number(100)]))
        fraud.append(Self.line("PAYMENT_PROCESSED", "10:00:28", ["basket_id": .string("f1"), "amount": .number(1000)]))
        try KafkaEndToEndTests.produce(fraud, to: bootstrap)
        #expect(TestSupport.eventually(within: 20) { query(host, "fraud_detection", "alerts", "{}")?.arrayValue?.count == 9 })
        let rules = Set((query(host, "fraud_detection", "alerts", "{}")?.arrayValue ?? []).compactMap { $0["rule_id"]?.stringValue })
        #expect(rules == ["multiple_terminals", "rapid_items", "high_value_payment", "anonymous_payment", "rapid_checkout", "excessive_voids", "void_ratio", "price_override", "employee_void_rate"])
        #expect(query(host, "fraud_detection", "assessment", #"{"basket_id": "f1"}"#)?["decision"] == .string("block"))

        // Every event the plugins emitted, as an independent consumer sees it on the bus.
        let emitted = try everything(bootstrap).filter { $0.headers["pos.source"].map { String(decoding: $0, as: UTF8.self).hasPrefix("plugin:") } ?? false }
        func types(_ plugin: String) -> [String] {
            emitted.filter { $0.headers["pos.source"] == Array("plugin:\(plugin)".utf8) }.compactMap { $0.headers["pos.type"].map { String(decoding: $0, as: UTF8.self) } }
        }
        #expect(types("customer_lookup") == ["CUSTOMER_DATA_FETCHED"])
        #expect(types("age_verification") == ["AGE_VERIFICATION_REQUIRED", "VERIFIED_ITEM_ADDED", "AGE_VERIFICATION_COMPLETED"])
        #expect(types("purchase_recommender").allSatisfy { $0 == "RECOMMENDATION_SUGGESTED" } && !types("purchase_recommender").isEmpty)
        #expect(types("employee_time_tracker") == ["SESSION_TERMINATED"])  // employee 9 moved from TERM002 to TERM003
        #expect(types("fraud_detection").filter { $0 == "FRAUD_ASSESSED" }.count == 2)
        #expect(types("fraud_detection").filter { $0 == "FRAUD_ALERT" }.count == 9)
        let suggestion = try #require(emitted.first { $0.headers["pos.type"] == Array("RECOMMENDATION_SUGGESTED".utf8) })
        #expect(try JSONValue.parse(suggestion.value)["payload"]?["recommendations"]?.arrayValue?.compactMap { $0["product_id"]?.stringValue } == ["FRIES", "COKE"])
        #expect(try host.status().plugins.allSatisfy { $0.metrics.deadLettered == 0 && $0.worker?.crashes ?? 0 == 0 })
        #expect(host.terminate() == 0)
    }
}
