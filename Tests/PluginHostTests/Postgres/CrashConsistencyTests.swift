import Foundation
import Testing

@testable import PluginHost

/// Effectively-once: a host killed with SIGKILL at random instants while a generated stream
/// flows, restarted each time, ends with exactly the state of one clean run, and the events the
/// plugins emitted, de-duplicated by id, are exactly the clean run's.
@Suite(.serialized, .timeLimit(.minutes(10))) struct CrashConsistencyTests {
    static let total = 10_000

    func host(label: String, bootstrap: String, database: String, group: String, emitTopic: String) throws -> HostProcess {
        let host = try HostProcess(
            label: label,
            configText: """
                plugins_dir: plugins.d
                control_socket: run/host.sock
                log_level: info
                dispatch: {batch_size: 2}
                database:
                  url: "\(database)"
                kafka:
                  bootstrap_servers: "\(bootstrap)"
                  group_prefix: \(group)
                  emit_topic: \(emitTopic)

                """)
        host.process.arguments = ["--config", host.configPath]
        return host
    }

    /// Both plugins have committed everything and event_counter's durable counts add up to
    /// the whole stream.
    func finished(_ host: HostProcess, database: String) -> Bool {
        guard let plugins = try? host.status().plugins, plugins.count == 2, plugins.allSatisfy({ $0.lag == 0 && $0.metrics.queueDepth == 0 }) else {
            return false
        }
        return (try? counted(database)) == Self.total
    }

    func counted(_ url: String) throws -> Int {
        let db = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        let sum = try db.execute(
            "SELECT coalesce(sum(convert_from(value, 'UTF8')::bigint), 0) FROM pos_plugin_state WHERE plugin = 'event_counter' AND convert_from(key, 'UTF8') LIKE 'count:%'")
        return Int(sum.int(0, 0) ?? -1)
    }

    /// Every row of plugin state, and the consumed positions, as comparable text.
    func snapshot(_ url: String) throws -> (state: [String], positions: [String], outbox: Int) {
        let db = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        let state = try db.execute("SELECT plugin || ' ' || encode(key, 'hex') || ' ' || encode(value, 'hex') FROM pos_plugin_state ORDER BY 1")
        let positions = try db.execute("SELECT plugin || ' ' || topic || '/' || partition || ' ' || next_offset FROM pos_consumer_positions ORDER BY 1")
        let outbox = try db.execute("SELECT count(*) FROM pos_outbox WHERE NOT published").int(0, 0) ?? -1
        return (state.rows.map { $0[0] ?? "" }, positions.rows.map { $0[0] ?? "" }, Int(outbox))
    }

    /// The emitted events on `topic`, de-duplicated by id (id -> envelope): read until `count`
    /// distinct ids arrived and the topic stayed quiet for a second (duplicates come on top).
    func emitted(_ bootstrap: String, topic: String, distinct count: Int) throws -> (unique: [String: [UInt8]], total: Int) {
        let consumer = try KafkaConsumer(bootstrapServers: bootstrap, groupId: "reader-\(UUID().uuidString)", topics: [topic])
        defer { consumer.close() }
        var unique: [String: [UInt8]] = [:]
        var total = 0
        let deadline = Date(timeIntervalSinceNow: 30)
        var lastMessage = Date()
        while Date() < deadline && (unique.count < count || Date().timeIntervalSince(lastMessage) < 1) {
            guard let message = try consumer.poll(timeoutMilliseconds: 100) else { continue }
            lastMessage = Date()
            total += 1
            let id = String(decoding: message.headers["pos.id"] ?? [], as: UTF8.self)
            if let previous = unique[id] { #expect(previous == message.value, "two different events with id \(id)") }
            unique[id] = message.value
        }
        return (unique, total)
    }

    @Test func sigkillAtRandomInstantsNeitherLosesNorRepeatsAnything() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1), ("clean-emitted", 1), ("crash-emitted", 1)])
        defer { cluster.close() }
        let traffic = KafkaEndToEndTests.traffic(Self.total, seed: 42)
        try KafkaEndToEndTests.produce(traffic, to: cluster.bootstrapServers)
        let payments = traffic.filter { $0.line.contains("PAYMENT_PROCESSED") }.count

        // The reference: one clean run.
        let cleanDatabase = try TestDatabase.fresh("clean")
        let clean = try host(label: "clean", bootstrap: cluster.bootstrapServers, database: cleanDatabase, group: "clean", emitTopic: "clean-emitted")
        try clean.start()
        #expect(TestSupport.eventually(within: 120) { finished(clean, database: cleanDatabase) }, "the clean run did not finish: \(clean.log.suffix(2000))")
        #expect(clean.terminate() == 0)
        let reference = try snapshot(cleanDatabase)
        #expect(reference.state.count > 5 && reference.outbox == 0)

        // The same stream, killed at random instants.
        let database = try TestDatabase.fresh("crash")
        var random = SplitMix64(seed: 7)
        var kills = 0
        var midStream = 0  // kills that hit a partly applied stream
        var current = try host(label: "crash", bootstrap: cluster.bootstrapServers, database: database, group: "crash", emitTopic: "crash-emitted")
        try current.start()
        while kills < 6 && !finished(current, database: database) {
            // Once it applies events again (a restarted host first waits for the killed one's
            // leases to expire and for the group to rebalance), at a random instant soon after.
            let before = (try? counted(database)) ?? 0
            _ = TestSupport.eventually(within: 30) { ((try? counted(database)) ?? 0) > before }
            usleep(UInt32(random.next() % 150_000))
            if let applied = try? counted(database), applied > 0, applied < Self.total { midStream += 1 }
            current.expectingFailure = true
            #expect(current.terminate(signal: SIGKILL) == SIGKILL)
            kills += 1
            current = try current.restarted()
        }
        #expect(
            TestSupport.eventually(within: 120) { finished(current, database: database) },
            "the crashed run did not finish: counted \((try? counted(database)) ?? -1), lags \(((try? current.status().plugins) ?? []).map { "\($0.name)=\(String(describing: $0.lag)) queued=\($0.metrics.queueDepth)" }), positions \((try? snapshot(database).positions) ?? []) vs clean \(reference.positions)")
        #expect(TestSupport.eventually(within: 10) { (try? snapshot(database).outbox) == 0 })
        #expect(current.terminate() == 0)
        // Every kill must hit a partly applied stream.
        #expect(kills >= 3 && midStream >= 3, "the stream was consumed before enough kills: \(kills) kills, \(midStream) mid-stream")

        let crashed = try snapshot(database)
        #expect(crashed.state.count == reference.state.count)
        let differing = zip(crashed.state, reference.state).filter { $0 != $1 }.prefix(5)
        #expect(crashed.state == reference.state, "state differs from the clean run after \(kills) kills, e.g. \(Array(differing))")
        #expect(crashed.positions == reference.positions, "\(crashed.positions) vs \(reference.positions)")

        let referenceEmitted = try emitted(cluster.bootstrapServers, topic: "clean-emitted", distinct: payments)
        let crashedEmitted = try emitted(cluster.bootstrapServers, topic: "crash-emitted", distinct: payments)
        #expect(referenceEmitted.unique.count == payments && referenceEmitted.total == payments)
        #expect(crashedEmitted.unique.count == payments, "\(crashedEmitted.unique.count) distinct emitted events, expected \(payments)")
        let same = crashedEmitted.unique == referenceEmitted.unique
        #expect(same, "the emitted events differ from the clean run's")
        print("crash consistency: \(kills) SIGKILLs (\(midStream) mid-stream), \(crashedEmitted.total - payments) duplicate emitted events dropped by id")
    }
}
