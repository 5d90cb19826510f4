import Foundation
import Testing

@testable import POSCheckout
@testable import PluginHost

/// Live pushes against the running store (pos-api, pos-host with the five plugins, Kafka,
/// PostgreSQL), driven by independent peers: Python's `websockets` and `requests` (PyPI) and
/// `kcat` producing what pos-host's relay would publish for a plugin (Tests/python/live_tills.py).
/// The employees are the suite's own, so other suites signing john or jane in elsewhere cannot
/// end these sessions.
@Suite(.serialized, .timeLimit(.minutes(10))) struct LiveTillsTests {
    static let script = TestSupport.packageRoot + "/Tests/python/live_tills.py"

    /// The shared store, with the suite's employees (a manager and four cashiers, password123).
    static let store: Result<CheckoutStore, any Error> = Result {
        let store = try CheckoutStore.shared.get()
        try store.addEmployees([(900, "live_mgr", "MANAGER")] + (1...4).map { (900 + $0, "live_c\($0)", "CASHIER") })
        return store
    }

    func run(_ scenario: String, second: String? = nil) async throws {
        let store = try Self.store.get()
        var arguments = [Self.script, "--api", store.api.url, "--bootstrap", store.cluster.bootstrapServers]
        if let second { arguments += ["--second", second] }
        let result = try await TestSupport.captureOffPool("/usr/bin/env", ["python3"] + arguments + [scenario])
        #expect(result.status == 0, "\(scenario): \(result.output)\n--- pos-api log tail:\n\(store.api.log.suffix(3000))")
        #expect(result.output.contains("ok: "), "\(result.output)")
        print(result.output)
    }

    @Test func everyProtocolViolationGetsItsCloseCode() async throws { try await run("protocol") }

    @Test func eachSubscriptionDeliversThePluginsEvents() async throws { try await run("subscriptions") }

    @Test func theOriginalsPlainWebSocketsAndSessionTermination() async throws { try await run("plain") }

    @Test func logoutClosesTheSessionsSockets() async throws { try await run("logout") }

    @Test func twoHundredSubscribersReceiveTheirEventsInOrder() async throws { try await run("many") }

    @Test func aSlowClientIsDroppedWhileOthersKeepTheirPushes() async throws { try await run("slow") }

    /// The UI's own client (ui/js/graphql-ws.js) in Node's WebSocket: pushes, and resume after
    /// a dropped connection.
    @Test func theBrowsersClientReceivesAndResumes() async throws {
        let store = try Self.store.get()
        let result = try await TestSupport.captureOffPool(
            "/usr/bin/env", ["node", "--experimental-websocket", TestSupport.packageRoot + "/Tests/js/live_client_test.mjs", store.api.url])
        #expect(result.status == 0 && result.output.contains("ok: after a dropped connection"), "\(result.output)")
        print(result.output)
    }

    @Test func resumingByCursorOrIdMissesNothingAndRepeatsNothing() async throws {
        let store = try Self.store.get()
        // A second pos-api on the same database and cluster (no seed).
        let second = try ApiProcess(label: "live-second", database: store.database, bootstrap: store.cluster.bootstrapServers, hostSockets: [])
        try second.start(seed: false)
        defer { second.stop() }
        try await run("resume", second: second.url)
        // An instance keeping only 100 events, started once the topic holds more than that:
        // a cursor from the start of the topic is older than what it kept.
        let producer = try KafkaProducer(bootstrapServers: store.cluster.bootstrapServers)
        defer { producer.close() }
        for index in 0..<450 {
            try producer.produce(topic: "pos-events", partition: Int32(index % 3), key: Array("LIVE-FILL".utf8), value: Array(#"{"filler": \#(index)}"#.utf8))
        }
        try producer.flush()
        let short = try ApiProcess(
            label: "live-short", database: store.database, bootstrap: store.cluster.bootstrapServers, hostSockets: [], extraApi: "  live:\n    retained_events: 100\n")
        try short.start(seed: false)
        defer { short.stop() }
        try await run("too_old", second: short.url)
    }
}
