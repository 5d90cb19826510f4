import Foundation
import Testing

@testable import PluginHost

/// The same generated day gives byte-identical state and the same emitted events (ids and
/// payloads), whatever the partitions (1, 3, 6), the number of hosts (1, 2) and SIGKILLs at
/// random instants: the five POS plugins (and event_counter, which counts every event, emitted
/// ones included) in worker processes, state in PostgreSQL, emitted events going back to the
/// input topic (the default layout), where fraud_detection, employee_time_tracker and
/// purchase_recommender take what the others emit.
@Suite(.serialized, .timeLimit(.minutes(45))) struct DeterminismTests {
    static let plugins = StoreEndToEndTests.five + ["event_counter"]

    /// One run's cluster (its own, so its emitted events stay apart), directory and database.
    final class Run {
        let cluster: EmbeddedKafkaCluster
        let database: String
        let directory: TestHTTPServer
        let label: String
        let partitions: Int
        var hosts: [HostProcess] = []

        let batchSize: Int

        init(label: String, partitions: Int, traffic: [(key: String, line: String)], batchSize: Int = 64) throws {
            self.batchSize = batchSize
            self.label = label
            self.partitions = partitions
            cluster = try EmbeddedKafkaCluster(topics: [("pos-events", partitions), ("pos-events.dlq", 1)])
            try KafkaEndToEndTests.produce(traffic, to: cluster.bootstrapServers)
            database = try TestDatabase.fresh(label)
            directory = try TestHTTPServer { path in
                path.contains("1234567890") ? .init(status: 200, body: CustomerLookupTests.john) : .init(status: 404, body: "{}")
            }
        }

        func host(_ name: String) throws -> HostProcess {
            let host = try HostProcess(
                label: "\(label)-\(name)",
                configText: """
                    plugins_dir: plugins.d
                    control_socket: run/host.sock
                    log_level: info
                    dispatch: {batch_size: \(batchSize)}
                    database:
                      url: "\(database)"
                    kafka:
                      bootstrap_servers: "\(cluster.bootstrapServers)"
                      group_prefix: pos

                    """)
            host.process.arguments = ["--config", host.configPath]
            TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
            for name in StoreEndToEndTests.five {
                try FileManager.default.copyItem(atPath: TestSupport.product("lib\(name).so"), toPath: host.plugins + "/\(name).so")
                chmod(host.plugins + "/\(name).so", 0o644)
                // The directory is an outside input: an answer later than timeout_ms is a
                // different answer (a timeout in the audit), which a loaded CI machine once gave
                // a 2-host run. A long timeout (within the worker's 5 s deadline) keeps the test
                // about the host, not about the machine's speed.
                TestSupport.write(name == "customer_lookup" ? "enabled: true\nsettings:\n  api_endpoint: \"\(directory.endpoint)\"\n  timeout_ms: 4000\n  retry_attempts: 0\n" : "enabled: true\n", to: host.plugins + "/\(name).yaml")
            }
            hosts.append(host)
            return host
        }

        /// Every plugin consumed to the end of every partition by one host, nothing queued or
        /// left to publish, and the state unchanged for a second.
        func finished(quick: Bool = false) -> Bool {
            guard let db = try? PostgresConnection(conninfo: database, logger: TestSupport.quietLogger) else { return false }
            let end = endTotal()
            let statuses = hosts.filter { $0.process.isRunning }.compactMap { try? $0.status().plugins }
            for name in DeterminismTests.plugins {
                let views = statuses.compactMap { plugins in plugins.first { $0.name == name } }
                let consumers = views.filter { $0.consumedHere != false }
                guard consumers.count == 1, consumers[0].lag == 0, views.allSatisfy({ $0.metrics.queueDepth == 0 }) else { return false }
            }
            guard (try? db.execute("SELECT count(*) FROM pos_outbox WHERE NOT published").int(0, 0)) == 0 else { return false }
            if quick { return true }
            // Emitted events the relay just published are read again: stable for a second.
            let before = (try? dump()) ?? []
            usleep(1_000_000)
            return !before.isEmpty && (try? dump()) == before && endTotal() == end
        }

        /// How many records the input topic holds (input and emitted events).
        func endTotal() -> Int64 {
            guard let consumer = try? KafkaConsumer(bootstrapServers: cluster.bootstrapServers, groupId: "ends-\(UUID().uuidString)", topics: ["pos-events"]) else { return -1 }
            defer { consumer.close() }
            let ends = consumer.endOffsets((0..<partitions).map { TopicPartition(topic: "pos-events", partition: Int32($0)) })
            return ends.count == partitions ? ends.values.reduce(0, +) : -1
        }

        /// Every plugin's state, as text.
        func dump() throws -> [String] {
            let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
            return try db.execute("SELECT plugin || ' ' || encode(key, 'escape') || ' = ' || encode(value, 'escape') FROM pos_plugin_state ORDER BY plugin, key").rows.map { $0[0] ?? "" }
        }

        /// The events plugins emitted (id -> type and payload), read back from the topic.
        func emitted() throws -> [String: String] {
            let messages = try KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events", atLeast: Int(endTotal()))
            var result: [String: String] = [:]
            for message in messages where message.headers["pos.source"].map({ String(decoding: $0, as: UTF8.self).hasPrefix("plugin:") }) == true {
                let envelope = try JSONValue.parse(message.value)
                let id = envelope["id"]?.stringValue ?? "?"
                result[id] = "\(envelope["type"]?.stringValue ?? "?") \(envelope["time"]?.stringValue ?? "") \(envelope["payload"]?.jsonText ?? "")"
            }
            return result
        }

        /// How many events plugins have applied so far (progress, to kill mid-stream).
        func applied() -> Int {
            guard let db = try? PostgresConnection(conninfo: database, logger: TestSupport.quietLogger) else { return -1 }
            return Int((try? db.execute("SELECT count(*) FROM pos_applied_events").int(0, 0)) ?? -1)
        }

        func close() {
            for host in hosts where host.process.isRunning { _ = host.terminate() }
            cluster.close()
        }
    }

    static func describe(_ a: [String], _ b: [String]) -> String {
        let onlyA = Set(a).subtracting(b).sorted().prefix(4)
        let onlyB = Set(b).subtracting(a).sorted().prefix(4)
        return "\(a.count) vs \(b.count) rows, \(Set(a).subtracting(b).count) differ; only first: \(onlyA.map { $0.prefix(160) }); only second: \(onlyB.map { $0.prefix(160) })"
    }

    @Test func theSameDayGivesTheSameStateAndEmittedEventsOnAnyLayout() throws {
        let traffic = KafkaEndToEndTests.traffic(4_000, seed: 21)
        var reference: (state: [String], emitted: [String: String])?
        // POS_DETERMINISM_LAYOUTS="1x1,3x1" narrows the layouts (partitions x hosts) when debugging.
        let layouts = ProcessInfo.processInfo.environment["POS_DETERMINISM_LAYOUTS"].map { text in
            text.split(separator: ",").compactMap { pair -> (Int, Int)? in
                let parts = pair.split(separator: "x").compactMap { Int($0) }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }
        } ?? [(1, 1), (3, 1), (6, 1), (3, 2), (6, 2)]
        for (partitions, hostCount) in layouts {
            let run = try Run(label: "replay\(partitions)p\(hostCount)h", partitions: partitions, traffic: traffic)
            defer { run.close() }
            for index in 0..<hostCount { try run.host("h\(index)").start() }
            let done = TestSupport.eventually(within: 240) { run.finished() }
            #expect(done, "\(partitions) partitions, \(hostCount) hosts: did not finish; \(run.hosts.map { $0.log.suffix(1500) })")
            let state = try run.dump()
            let emitted = try run.emitted()
            print("determinism: \(partitions) partitions, \(hostCount) hosts: \(state.count) state rows, \(emitted.count) emitted events")
            guard let reference else {
                #expect(state.count > 100 && emitted.count > 100)
                reference = (state, emitted)
                continue
            }
            #expect(state == reference.state, "\(partitions) partitions, \(hostCount) hosts: state differs: \(Self.describe(state, reference.state))")
            if state != reference.state {
                TestSupport.write(state.joined(separator: "\n"), to: TestSupport.temporaryDirectory("diff-\(partitions)p\(hostCount)h") + "/state.txt")
                TestSupport.write(reference.state.joined(separator: "\n"), to: TestSupport.temporaryDirectory("diff-reference") + "/state.txt")
            }
            let differing = emitted.filter { reference.emitted[$0.key] != $0.value }.prefix(3)
            #expect(
                emitted == reference.emitted,
                "\(partitions) partitions, \(hostCount) hosts: emitted events differ: \(emitted.count) vs \(reference.emitted.count), e.g. \(Array(differing)) vs \(differing.map { reference.emitted[$0.key] ?? "none" })")
        }
    }

    /// At least 20 SIGKILLs at random instants while the day flows through 3 partitions, with
    /// one host and with two (killing either): the state and the emitted events are exactly a
    /// clean run's; re-delivered events are counted, none applied twice.
    @Test func twentyKillsWithOneAndTwoHostsEndExactlyAsACleanRun() throws {
        let traffic = KafkaEndToEndTests.traffic(10_000, seed: 33)
        let clean = try Run(label: "killclean", partitions: 3, traffic: traffic, batchSize: 4)
        defer { clean.close() }
        try clean.host("h0").start()
        #expect(TestSupport.eventually(within: 300) { clean.finished() }, "the clean run did not finish")
        let reference = (state: try clean.dump(), emitted: try clean.emitted())
        for hostCount in [1, 2] {
            let run = try Run(label: "kills\(hostCount)h", partitions: 3, traffic: traffic, batchSize: 4)
            defer { run.close() }
            var hosts = try (0..<hostCount).map { try run.host("h\($0)") }
            for host in hosts { try host.start() }
            var random = SplitMix64(seed: UInt64(100 + hostCount))
            var kills = 0
            var midStream = 0
            while kills < 20 {
                // Once events are applied again (a restarted host waits for the killed one's
                // leases and a rebalance), at a random instant soon after.
                let before = run.applied()
                _ = TestSupport.eventually(within: 60) { run.applied() > before }
                usleep(UInt32(random.next() % 200_000))
                if !run.finished(quick: true) { midStream += 1 }
                let victim = Int(random.next(upTo: UInt64(hosts.count)))
                hosts[victim].expectingFailure = true
                #expect(hosts[victim].terminate(signal: SIGKILL) == SIGKILL)
                kills += 1
                // One host: restarted and waited for. Two: the killed one is only launched, so
                // the next kill may hit either host while it opens the database, takes leases
                // or joins the groups, and the kills keep pace with the survivor's stream.
                hosts[victim] = hostCount == 1 ? try hosts[victim].restarted() : try hosts[victim].launched()
                run.hosts = hosts
            }
            for host in hosts { try host.waitUntilReady() }
            #expect(TestSupport.eventually(within: 300) { run.finished() }, "\(hostCount) hosts: the killed run did not finish")
            #expect(midStream >= 15, "\(hostCount) hosts: only \(midStream) of \(kills) kills hit a stream still flowing")
            let state = try run.dump()
            let emitted = try run.emitted()
            #expect(state == reference.state, "\(hostCount) hosts, \(kills) kills: state differs: \(Self.describe(state, reference.state))")
            if state != reference.state {
                TestSupport.write(state.joined(separator: "\n"), to: TestSupport.temporaryDirectory("diff-kills\(hostCount)h") + "/state.txt")
                TestSupport.write(reference.state.joined(separator: "\n"), to: TestSupport.temporaryDirectory("diff-killclean") + "/state.txt")
            }
            let differing = emitted.filter { reference.emitted[$0.key] != $0.value }.prefix(3)
            #expect(emitted == reference.emitted, "\(hostCount) hosts, \(kills) kills: emitted events differ: \(emitted.count) vs \(reference.emitted.count), e.g. \(Array(differing))")
            let records = try KafkaEndToEndTests.readAll(run.cluster.bootstrapServers, topic: "pos-events", atLeast: Int(run.endTotal())).count
            print("determinism: \(hostCount) hosts, \(kills) SIGKILLs (\(midStream) mid-stream): \(state.count) state rows, \(emitted.count) emitted ids, \(records - traffic.count - emitted.count) duplicate emitted records on the topic, state equal: \(state == reference.state)")
        }
    }
}
