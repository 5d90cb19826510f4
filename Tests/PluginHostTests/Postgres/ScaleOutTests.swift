import Foundation
import Testing

@testable import PluginHost

/// Several hosts on one database and one Kafka cluster end exactly as one host would: one
/// writer per plugin (leases, fenced commits), one outbox relay at a time, re-delivered ids
/// skipped. Also with a host SIGKILLed mid-stream and restarted.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ScaleOutTests {
    static let total = CrashConsistencyTests.total
    let crash = CrashConsistencyTests()

    /// Every plugin is consumed by exactly one of `hosts`, has nothing queued or lagging, and
    /// the counts add up to the whole stream.
    func finished(_ hosts: [HostProcess], database: String, reference: [String]) -> Bool {
        // Each plugin's stored positions equal one host's: every partition was consumed to its
        // end (a consumer's lag covers only the partitions assigned to it at that moment).
        guard (try? crash.counted(database)) == Self.total, (try? crash.snapshot(database).positions) == reference else { return false }
        let statuses = hosts.compactMap { try? $0.status().plugins }
        guard statuses.count == hosts.count else { return false }
        for name in ["event_counter", "basket_tally"] {
            let views = statuses.compactMap { plugins in plugins.first { $0.name == name } }
            let consumers = views.filter { $0.consumedHere == true }
            guard consumers.count == 1, consumers[0].lag == 0, views.allSatisfy({ $0.metrics.queueDepth == 0 }) else { return false }
        }
        return true
    }

    @Test func twoHostsEndWithTheStateAndEventsOfOneEvenWhenOneIsKilled() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1), ("one-emitted", 1), ("two-emitted", 1)])
        defer { cluster.close() }
        let traffic = KafkaEndToEndTests.traffic(Self.total, seed: 9)
        try KafkaEndToEndTests.produce(traffic, to: cluster.bootstrapServers)
        let payments = traffic.filter { $0.line.contains("PAYMENT_PROCESSED") }.count

        let oneDatabase = try TestDatabase.fresh("onehost")
        let one = try crash.host(label: "one", bootstrap: cluster.bootstrapServers, database: oneDatabase, group: "one", emitTopic: "one-emitted")
        try one.start()
        #expect(TestSupport.eventually(within: 120) { crash.finished(one, database: oneDatabase) }, "the one-host run did not finish: \(one.log.suffix(1500))")
        #expect(one.terminate() == 0)
        let reference = try crash.snapshot(oneDatabase)

        let database = try TestDatabase.fresh("twohosts")
        let first = try crash.host(label: "two-a", bootstrap: cluster.bootstrapServers, database: database, group: "two", emitTopic: "two-emitted")
        var second = try crash.host(label: "two-b", bootstrap: cluster.bootstrapServers, database: database, group: "two", emitTopic: "two-emitted")
        try first.start()
        try second.start()
        // Kill one host while the stream is being consumed, and bring it back.
        usleep(1_500_000)
        second.expectingFailure = true
        #expect(second.terminate(signal: SIGKILL) == SIGKILL)
        usleep(500_000)
        second = try second.restarted()
        #expect(
            TestSupport.eventually(within: 150) { finished([first, second], database: database, reference: reference.positions) },
            "the two-host run did not finish: counted \((try? crash.counted(database)) ?? -1); \([first, second].map { ((try? $0.status().plugins) ?? []).map { "\($0.name) here=\(String(describing: $0.consumedHere)) lag=\(String(describing: $0.lag)) queued=\($0.metrics.queueDepth)" } })")
        #expect(TestSupport.eventually(within: 10) { (try? crash.snapshot(database).outbox) == 0 })
        let shared = try crash.snapshot(database)
        #expect(first.terminate() == 0)
        #expect(second.terminate() == 0)

        let differing = zip(shared.state, reference.state).filter { $0 != $1 }.prefix(5)
        #expect(shared.state.count == reference.state.count && shared.state == reference.state, "state differs from one host's, e.g. \(Array(differing))")
        #expect(shared.positions == reference.positions, "positions \(shared.positions) vs one host's \(reference.positions)")
        if shared.state != reference.state {
            for host in [first, second] { print("---- \(host.directory)\n" + host.log.split(separator: "\n").filter { !$0.contains("rdkafka") && !$0.contains("COMMITFAIL") }.suffix(60).joined(separator: "\n")) }
        }
        let referenceEmitted = try crash.emitted(cluster.bootstrapServers, topic: "one-emitted", distinct: payments)
        let sharedEmitted = try crash.emitted(cluster.bootstrapServers, topic: "two-emitted", distinct: payments)
        let missing = Set(referenceEmitted.unique.keys).subtracting(sharedEmitted.unique.keys)
        let extra = Set(sharedEmitted.unique.keys).subtracting(referenceEmitted.unique.keys)
        let changed = referenceEmitted.unique.filter { sharedEmitted.unique[$0.key] != nil && sharedEmitted.unique[$0.key] != $0.value }.count
        var causes: [String] = []
        for id in missing.prefix(3) {
            let cause = (try? JSONValue.parse(referenceEmitted.unique[id]!))?["causation_id"]?.stringValue ?? "?"
            let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
            let applied = try db.execute("SELECT count(*) FROM pos_applied_events WHERE plugin = 'basket_tally' AND event_id = $1", [.text(cause)]).int(0, 0) ?? -1
            causes.append("\(cause) applied=\(applied)")
        }
        #expect(missing.isEmpty && extra.isEmpty && changed == 0, "emitted events differ from one host's: \(missing.count) missing, \(extra.count) extra, \(changed) changed; causes of missing: \(causes)")
        print("scale-out: 2 hosts, 1 SIGKILL: \(sharedEmitted.total) emitted records for \(sharedEmitted.unique.count) ids")
    }

    @Test func aReDeliveredEventIsSkippedAndCounted() throws {
        let host = try HostProcess(label: "duplicates")
        try host.start()
        let event = #"{"id": "evt-42", "type": "ITEM_ADDED", "time_ms": 1000, "payload": {"basket_id": "b1", "product_id": "X", "price": 2, "quantity": 1}}"#
        host.send([event, event, #"{"id": "evt-43", "type": "ITEM_ADDED", "time_ms": 1001, "payload": {"basket_id": "b1", "product_id": "Y", "price": 1}}"#, event])
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.duplicates) == 2 })
        #expect(try host.pluginctl("query", "event_counter", "counts").output == #"{"ITEM_ADDED":2}"# + "\n")
        let tally = try host.pluginctl("query", "basket_tally", "basket", #"{"basket_id": "b1"}"#).output
        #expect(tally.contains(#""items":2"#) && tally.contains(#""total_cents":300"#), "\(tally)")
        #expect(try host.pluginctl("status", "event_counter").output.contains("2 duplicates skipped"))
        #expect(host.finish() == 0)
    }
}
