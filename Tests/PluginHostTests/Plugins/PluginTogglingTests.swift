import Foundation
import Testing

@testable import PluginHost

/// Each POS plugin, hosted in a worker: it ignores events while disabled and processes them
/// once enabled (the original's "enabled / disabled" case for every plugin).
@Suite(.serialized, .timeLimit(.minutes(10))) struct PluginTogglingTests {
    struct Case: Sendable, CustomStringConvertible {
        var plugin: String
        var type: String
        var payload: String
        var description: String { plugin }
    }

    static let cases = [
        Case(plugin: "employee_time_tracker", type: "EMPLOYEE_LOGIN", payload: #"{"employee_id": 7, "terminal_id": "T1"}"#),
        Case(plugin: "customer_lookup", type: "BASKET_STARTED", payload: #"{"basket_id": "b1", "terminal_id": "T1"}"#),
        Case(plugin: "purchase_recommender", type: "ITEM_ADDED", payload: #"{"basket_id": "b1", "product_id": "BURGER", "price": 8.99}"#),
        Case(plugin: "fraud_detection", type: "EMPLOYEE_LOGIN", payload: #"{"employee_id": 7, "terminal_id": "T1"}"#),
        Case(plugin: "age_verification", type: "ITEM_ADDED", payload: #"{"basket_id": "b1", "product_id": "BEER", "price": 4.99}"#),
    ]

    @Test(arguments: cases)
    func ignoresEventsWhenDisabledAndProcessesThemWhenEnabled(_ test: Case) throws {
        let directory = TestSupport.temporaryDirectory("toggle-\(test.plugin)")
        let plugins = directory + "/plugins.d"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        chmod(plugins, 0o755)
        try FileManager.default.copyItem(atPath: TestSupport.product("lib\(test.plugin).so"), toPath: plugins + "/\(test.plugin).so")
        chmod(plugins + "/\(test.plugin).so", 0o644)
        TestSupport.write("enabled: false\n", to: plugins + "/\(test.plugin).yaml")
        TestSupport.write("plugins_dir: plugins.d\ncontrol_socket: run/host.sock\n", to: directory + "/config.yaml")
        let store = InMemoryStateStore()
        let sink = InMemoryEventSink()
        let host = try HostRuntime(
            configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, store: store, emitted: sink,
            deadLetters: InMemoryDeadLetterSink())
        defer { host.shutdown(drain: false) }
        _ = host.reload(trigger: "test")
        var sequence = 0
        func send() -> Int {
            sequence += 1
            return host.registry.route(Event(id: "e\(sequence)", type: test.type, key: "k", timeMilliseconds: 1_795_597_200_000 + Int64(sequence), payload: Array(test.payload.utf8)))
        }
        #expect(send() == 0)  // nobody takes it
        host.drain()
        #expect(store.entries(plugin: test.plugin).isEmpty && sink.events.isEmpty)

        TestSupport.write("enabled: true\n", to: plugins + "/\(test.plugin).yaml")
        #expect(host.reload(trigger: "test").changes.first?.action == .started)
        #expect(send() == 1)
        host.drain()
        #expect(!store.entries(plugin: test.plugin).isEmpty || !sink.events.isEmpty, "\(test.plugin) did nothing with \(test.type)")
        #expect(host.status().plugins.first?.metrics.handled == 1)
    }
}
