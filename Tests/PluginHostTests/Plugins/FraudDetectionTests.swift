import Foundation
import Testing

@testable import PluginHost

/// fraud_detection: the original's five rules (at their thresholds and just below), the four
/// new ones, scores and decisions, de-duplication, acknowledgement, runtime switches, and
/// determinism by event time. Every time below is event time in seconds after 09:00.
@Suite struct FraudDetectionTests {
    func alerts(_ plugin: PluginHarness) -> [String] { plugin.emitted("FRAUD_ALERT").compactMap { $0["rule_id"]?.stringValue } }

    func openBasket(_ plugin: PluginHarness, _ basket: String = "b1", at second: Double = 0, employee: JSONValue = .number(7), customer: String? = nil) {
        plugin.send("EMPLOYEE_LOGIN", at: second, ["employee_id": employee, "terminal_id": .string("T1")])
        var fields: [String: JSONValue] = ["basket_id": .string(basket), "terminal_id": .string("T1")]
        if let customer { fields["customer_identifier"] = .string(customer) }
        plugin.send("BASKET_STARTED", at: second + 1, fields)
    }

    func item(_ plugin: PluginHarness, _ basket: String = "b1", at second: Double, product: String = "BURGER", price: Double = 8.99, removed: Bool = false) {
        plugin.send(removed ? "ITEM_REMOVED" : "ITEM_ADDED", at: second, ["basket_id": .string(basket), "product_id": .string(product), "quantity": .number(1), "price": .number(price)])
    }

    func pay(_ plugin: PluginHarness, _ basket: String = "b1", at second: Double, amount: Double) {
        plugin.send("PAYMENT_PROCESSED", at: second, ["basket_id": .string(basket), "amount": .number(amount)])
    }

    @Test func multipleTerminalsFiresOnTheSecondConcurrentLoginOnly() throws {
        let plugin = try PluginHarness("fraud_detection")
        plugin.send("EMPLOYEE_LOGIN", at: 0, ["employee_id": .number(7), "terminal_id": .string("T1")])
        plugin.send("EMPLOYEE_LOGOUT", at: 10, ["employee_id": .number(7), "terminal_id": .string("T1")])
        plugin.send("EMPLOYEE_LOGIN", at: 20, ["employee_id": .number(7), "terminal_id": .string("T2")])
        #expect(alerts(plugin).isEmpty)  // logged out first: one terminal at a time
        plugin.send("EMPLOYEE_LOGIN", at: 30, ["employee_id": .number(7), "terminal_id": .string("T3")])
        #expect(alerts(plugin) == ["multiple_terminals"])
        let alert = try #require(plugin.emitted("FRAUD_ALERT").first)
        #expect(alert["severity"] == .string("HIGH") && alert["actual"] == .number(2) && alert["threshold"] == .number(2) && alert["employee_id"] == .string("7"))
        plugin.send("EMPLOYEE_LOGIN", at: 40, ["employee_id": .number(7), "terminal_id": .string("T4")])
        #expect(alerts(plugin).count == 1)  // de-duplicated within the window
        // Outside the 300 s window, old logins no longer count.
        plugin.send("EMPLOYEE_LOGIN", at: 1_000, ["employee_id": .number(9), "terminal_id": .string("T1")])
        plugin.send("EMPLOYEE_LOGIN", at: 1_400, ["employee_id": .number(9), "terminal_id": .string("T2")])
        #expect(alerts(plugin).count == 1)
    }

    @Test func rapidItemsCountsScansWithinTheWindow() throws {
        let plugin = try PluginHarness("fraud_detection")
        openBasket(plugin)
        for index in 0..<9 { item(plugin, at: 2 + Double(index) * 5) }  // 9 items in 40 s
        #expect(alerts(plugin).isEmpty)
        item(plugin, at: 100)  // the 10th, but the first ones are older than 60 s
        #expect(alerts(plugin).isEmpty)
        for index in 0..<9 { item(plugin, at: 101 + Double(index)) }
        #expect(alerts(plugin) == ["rapid_items"])
        item(plugin, at: 111)
        #expect(alerts(plugin) == ["rapid_items"])  // once per basket
    }

    @Test func paymentRulesFireAtTheirThresholdsOnEventTime() throws {
        let plugin = try PluginHarness("fraud_detection")
        // high_value_payment: >= 1000 within 600 s of login; anonymous_payment: >= 500 without a customer.
        openBasket(plugin, "b1", at: 0, customer: "+1234567890")
        item(plugin, "b1", at: 100, product: "LAPTOP", price: 1000)
        pay(plugin, "b1", at: 200, amount: 1000)
        #expect(alerts(plugin) == ["high_value_payment"])

        openBasket(plugin, "b2", at: 1_000)
        item(plugin, "b2", at: 1_700, product: "TV", price: 999.99)
        pay(plugin, "b2", at: 1_700, amount: 999.99)  // 699 s after login and below 1000
        #expect(alerts(plugin) == ["high_value_payment", "anonymous_payment"])

        openBasket(plugin, "b3", at: 3_000)
        item(plugin, "b3", at: 3_100, product: "RADIO", price: 499.99)
        pay(plugin, "b3", at: 3_200, amount: 499.99)
        #expect(alerts(plugin).count == 2)  // below 500: no anonymous_payment

        // rapid_checkout: paid within 30 s of the basket's start (not at 31 s).
        openBasket(plugin, "b4", at: 5_000, customer: "CARD_1")
        pay(plugin, "b4", at: 5_031, amount: 5)  // started at 5_001: 30 s
        openBasket(plugin, "b5", at: 6_000, customer: "CARD_1")
        pay(plugin, "b5", at: 6_032, amount: 5)  // 31 s
        #expect(alerts(plugin).last == "rapid_checkout" && alerts(plugin).filter { $0 == "rapid_checkout" }.count == 1)
    }

    @Test func voidsOverridesAndSweetheartingAreCaught() throws {
        let plugin = try PluginHarness("fraud_detection")
        openBasket(plugin, "b1", at: 0, customer: "CARD_1")
        item(plugin, "b1", at: 10, product: "WINE", price: 20)
        item(plugin, "b1", at: 11, product: "WINE", price: 20)
        item(plugin, "b1", at: 12, product: "STEAK", price: 30)
        item(plugin, "b1", at: 20, product: "WINE", price: 20, removed: true)
        item(plugin, "b1", at: 21, product: "WINE", price: 20, removed: true)
        #expect(alerts(plugin).isEmpty)
        item(plugin, "b1", at: 22, product: "STEAK", price: 30, removed: true)  // third void
        #expect(alerts(plugin) == ["excessive_voids"])
        pay(plugin, "b1", at: 100, amount: 0)
        #expect(alerts(plugin) == ["excessive_voids", "void_ratio"])  // 70 of 70 voided

        // price_override: the usual price is learned from normal sales; 30 % below is flagged.
        openBasket(plugin, "b2", at: 200, customer: "CARD_2")
        item(plugin, "b2", at: 201, product: "WINE", price: 14.5)  // 27.5 % below 20: fine
        #expect(!alerts(plugin).contains("price_override"))
        item(plugin, "b2", at: 202, product: "STEAK", price: 21)  // 30 % below 30
        #expect(alerts(plugin).last == "price_override")
        let override = try #require(plugin.emitted("FRAUD_ALERT").last)
        #expect(override["basket_id"] == .string("b2") && override["actual"] == .number(0.3))

        // employee_void_rate: 10 voids by one employee within an hour, across baskets.
        let sweet = try PluginHarness("fraud_detection", settings: .object(["rules": .object(["excessive_voids": .object(["enabled": .bool(false)])])]))
        for basket in 0..<5 {
            openBasket(sweet, "s\(basket)", at: Double(basket) * 300, customer: "CARD_\(basket)")
            for line in 0..<2 {
                item(sweet, "s\(basket)", at: Double(basket) * 300 + 10 + Double(line), product: "P\(line)", price: 5)
                item(sweet, "s\(basket)", at: Double(basket) * 300 + 20 + Double(line), product: "P\(line)", price: 5, removed: true)
            }
        }
        #expect(alerts(sweet).filter { $0 == "employee_void_rate" }.count == 1)
        #expect(!alerts(sweet).contains("excessive_voids"))
    }

    @Test func theScoreDecidesAndThePaymentFlowCanAsk() throws {
        let plugin = try PluginHarness("fraud_detection")
        openBasket(plugin, "b1", at: 0)
        item(plugin, "b1", at: 10, product: "LAPTOP", price: 1200)
        #expect(try plugin.query("assessment", #"{"basket_id": "b1"}"#)["decision"] == .string("allow"))
        plugin.send("PAYMENT_INITIATED", at: 20, ["basket_id": .string("b1"), "amount": .number(1200)])
        // high_value_payment (HIGH 50) + anonymous_payment (MEDIUM 25) + rapid_checkout (LOW 10) = 85: block.
        let assessed = try #require(plugin.emitted("FRAUD_ASSESSED").first)
        #expect(assessed["score"] == .number(85) && assessed["decision"] == .string("block"))
        #expect(assessed["reasons"]?.arrayValue?.compactMap { $0["rule_id"]?.stringValue } == ["high_value_payment", "anonymous_payment", "rapid_checkout"])
        #expect(try plugin.query("assessment", #"{"basket_id": "b1"}"#)["decision"] == .string("block"))
        pay(plugin, "b1", at: 40, amount: 1200)
        #expect(plugin.emitted("FRAUD_ASSESSED").count == 1 && plugin.emitted("FRAUD_ALERT").count == 3)  // no repeats
        plugin.send("BASKET_CLOSED", at: 41, ["basket_id": .string("b1")])
        #expect(try plugin.query("assessment", #"{"basket_id": "b1"}"#)["score"] == .number(85))  // kept for audit

        // MEDIUM (25) + LOW (10) = 35: review; a MEDIUM alone (25) is allowed.
        openBasket(plugin, "b2", at: 1_000)
        item(plugin, "b2", at: 1_010, product: "TV", price: 600)
        pay(plugin, "b2", at: 1_020, amount: 600)
        #expect(plugin.emitted("FRAUD_ASSESSED").last?["decision"] == .string("review"))
        openBasket(plugin, "b3", at: 3_000)
        item(plugin, "b3", at: 3_010, product: "RADIO", price: 600)
        pay(plugin, "b3", at: 3_100, amount: 600)
        #expect(plugin.emitted("FRAUD_ASSESSED").last?["decision"] == .string("allow"))

        // Acknowledge an alert.
        let alertId = try #require(plugin.emitted("FRAUD_ALERT").first?["alert_id"]?.stringValue)
        #expect(plugin.send("FRAUD_ALERT_ACKNOWLEDGED", at: 2_000, ["alert_id": .string(alertId), "employee_id": .number(1)]) == .handled)
        let open = try plugin.query("alerts", #"{"unacknowledged": true}"#).arrayValue ?? []
        #expect(open.count == 5 && !open.contains { $0["alert_id"]?.stringValue == alertId })
        let acknowledged = try plugin.query("alerts", #"{"basket_id": "b1"}"#).arrayValue?.first { $0["alert_id"]?.stringValue == alertId }
        #expect(acknowledged?["acknowledged"] == .bool(true) && acknowledged?["acknowledged_by"] == .string("1"))
        #expect(plugin.send("FRAUD_ALERT_ACKNOWLEDGED", at: 2_001, ["alert_id": .string("fa_nope")]) == .reject("no fraud alert fa_nope"))
    }

    @Test func rulesAreSwitchableAndTunableAtRuntime() throws {
        let plugin = try PluginHarness("fraud_detection")
        try plugin.reconfigure(.object(["rules": .object(["anonymous_payment": .object(["enabled": .bool(false)]), "rapid_checkout": .object(["threshold": .number(5), "severity": .string("HIGH")])])]))
        openBasket(plugin, "b1", at: 0)
        pay(plugin, "b1", at: 7, amount: 900)  // 6 s after start: not rapid under a 5 s threshold
        #expect(alerts(plugin).isEmpty)
        openBasket(plugin, "b2", at: 100)
        pay(plugin, "b2", at: 105, amount: 900)
        #expect(alerts(plugin) == ["rapid_checkout"] && plugin.emitted("FRAUD_ALERT").first?["severity"] == .string("HIGH"))
        // Settings the schema refuses never reach the plugin.
        #expect(throws: PluginLoadError.self) { try plugin.reconfigure(.object(["rules": .object(["rapid_checkout": .object(["severity": .string("SEVERE")])])])) }
        #expect(throws: PluginLoadError.self) { try plugin.reconfigure(.object(["review_at": .number(90), "block_at": .number(60)])) }
    }

    @Test func aReplayRaisesTheSameAlertsWhateverTheWallClock() throws {
        func run(clockOffset: Int64) throws -> [String] {
            let plugin = try PluginHarness("fraud_detection")
            plugin.clock.advance(milliseconds: clockOffset)
            openBasket(plugin, "b1", at: 0)
            for index in 0..<12 { item(plugin, "b1", at: 2 + Double(index), price: 100) }
            pay(plugin, "b1", at: 20, amount: 1200)
            return plugin.emitted("FRAUD_ALERT").compactMap { $0["alert_id"]?.stringValue }
        }
        let first = try run(clockOffset: 0)
        #expect(first.count == 4)
        #expect(try run(clockOffset: 86_400_000 * 365) == first)
    }
}

/// The plugin as the host runs it: in a worker process, only when enabled.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FraudDetectionHostedTests {
    @Test func processesEventsWhenEnabledAndIgnoresThemWhenDisabled() throws {
        let directory = TestSupport.temporaryDirectory("fraud-hosted")
        let plugins = directory + "/plugins.d"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        chmod(plugins, 0o755)
        try FileManager.default.copyItem(atPath: TestSupport.product("libfraud_detection.so"), toPath: plugins + "/fraud_detection.so")
        chmod(plugins + "/fraud_detection.so", 0o644)
        TestSupport.write("enabled: false\n", to: plugins + "/fraud_detection.yaml")
        TestSupport.write("plugins_dir: plugins.d\ncontrol_socket: run/host.sock\n", to: directory + "/config.yaml")
        let sink = InMemoryEventSink()
        let host = try HostRuntime(
            configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, emitted: sink, deadLetters: InMemoryDeadLetterSink())
        _ = host.reload(trigger: "test")
        func scans(_ basket: String) {
            for index in 0..<12 {
                let payload = #"{"basket_id": "\#(basket)", "product_id": "P\#(index)", "price": 1.5}"#
                host.registry.route(Event(id: "\(basket)-\(index)", type: "ITEM_ADDED", key: basket, timeMilliseconds: 1_795_597_200_000 + Int64(index) * 1000, payload: Array(payload.utf8)))
            }
            host.drain()
        }
        scans("b-off")
        #expect(sink.events.isEmpty)
        TestSupport.write("enabled: true\n", to: plugins + "/fraud_detection.yaml")
        #expect(host.reload(trigger: "test").changes.first?.action == .started)
        #expect(host.status().plugins.first?.isolation == "process")
        scans("b-on")
        #expect(sink.events.filter { $0.type == "FRAUD_ALERT" }.count == 1)
        #expect(sink.events.first?.key == "b-on")
        host.shutdown(drain: false)
    }
}
