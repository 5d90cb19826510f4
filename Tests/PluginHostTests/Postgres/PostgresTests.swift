import Foundation
import Synchronization
import Testing

@testable import PluginHost

/// The configuration store, durable state and migrations against a real PostgreSQL.
@Suite(.serialized, .timeLimit(.minutes(10))) struct PostgresTests {
    @Test func stateIsDurableAtomicAndScannedInKeyOrder() throws {
        let url = try TestDatabase.fresh()
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let store = PostgresStateStore(pool: pool)
        try store.commit(plugin: "a", writes: [Array("k:2".utf8): Array("two".utf8), Array("k:1".utf8): [0, 255, 7], Array("j".utf8): Array("x".utf8)])
        try store.commit(plugin: "b", writes: [Array("k:1".utf8): Array("other plugin".utf8)])
        #expect(try store.get(plugin: "a", key: Array("k:1".utf8)) == [0, 255, 7])
        #expect(try store.scan(plugin: "a", prefix: Array("k:".utf8)).map { String(decoding: $0.key, as: UTF8.self) } == ["k:1", "k:2"])
        let deletion: [[UInt8]: [UInt8]?] = [Array("k:1".utf8): nil]
        try store.commit(plugin: "a", writes: deletion)
        #expect(try store.get(plugin: "a", key: Array("k:1".utf8)) == nil)
        // A new pool (a restarted host) reads the same state.
        let again = PostgresStateStore(pool: try TestDatabase.pool(url))
        #expect(try again.get(plugin: "a", key: Array("k:2".utf8)) == Array("two".utf8))
        #expect(try again.get(plugin: "b", key: Array("k:1".utf8)) == Array("other plugin".utf8))
    }

    /// Batches go in as array parameters (`unnest`): every byte value in keys, values and
    /// payloads, quotes, backslashes and NULLs in text columns, and the batch's order survive.
    @Test func aBatchWithEveryByteAndAwkwardTextCommitsExactly() throws {
        let url = try TestDatabase.fresh()
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let store = PostgresStateStore(pool: pool)
        var commit = StateCommit()
        let allBytes = (0...255).map { UInt8($0) }
        commit.writes = [allBytes: allBytes, [0x22, 0x5C, 0x2C, 0x7B, 0x7D]: Array(#"{"a":"\\"}"#.utf8), [0xFF]: [], Array("gone".utf8): nil]
        try store.commit(plugin: "p", writes: [Array("gone".utf8): Array("x".utf8)])
        for index in 0..<5 {
            let key: String = index == 2 ? "NULL" : "k,\(index)"
            let causation: String? = index == 1 ? nil : "c\"\(index)"
            let source: String? = index == 3 ? "plugin:p" : nil
            let id = "e\(index)\"\\,{}"
            commit.emitted.append(
                Event(id: id, type: "T", key: key, timeMilliseconds: 1_000 + Int64(index), payload: allBytes.shuffled(), causationId: causation, source: source))
        }
        commit.applied = ["a\"b", "c\\d", "e,f"]
        try store.commit(plugin: "p", commit)
        let fresh = PostgresStateStore(pool: try TestDatabase.pool(url))  // no cache
        #expect(try fresh.get(plugin: "p", key: allBytes) == allBytes)
        #expect(try fresh.get(plugin: "p", key: [0x22, 0x5C, 0x2C, 0x7B, 0x7D]) == Array(#"{"a":"\\"}"#.utf8))
        #expect(try fresh.get(plugin: "p", key: [0xFF]) == [])
        #expect(try fresh.get(plugin: "p", key: Array("gone".utf8)) == nil)
        #expect(try fresh.appliedEvents(plugin: "p", among: ["a\"b", "c\\d", "e,f", "other"]) == ["a\"b", "c\\d", "e,f"])
        let rows = try pool.with { db in
            try db.execute("SELECT event_id, key, time_ms, payload, causation_id, correlation_id, source FROM pos_outbox WHERE plugin = 'p' ORDER BY id")
        }
        #expect(rows.rows.count == 5)
        for (index, event) in commit.emitted.enumerated() {
            #expect(rows.text(index, 0) == event.id && rows.text(index, 1) == event.key && rows.text(index, 2) == String(event.timeMilliseconds))
            #expect(rows.bytes(index, 3) == event.payload)
            #expect(rows.text(index, 4) == event.causationId && rows.text(index, 5) == nil && rows.text(index, 6) == event.source)
        }
    }

    @Test func migrationsAreIdempotentWhenHostsStartTogether() throws {
        let url = try TestDatabase.fresh()
        let applied = Mutex<[[Int]]>([])
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let connection = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
                    let versions = try PostgresSchema.migrate(connection)
                    applied.withLock { $0.append(versions) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        #expect(applied.withLock { $0.flatMap { $0 } }.sorted() == PostgresSchema.migrations.map(\.version))
        let connection = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        #expect(try PostgresSchema.migrate(connection).isEmpty)
    }

    /// Two hosts with their own plugins directories share one database.
    func twoHosts(_ url: String) throws -> (HostRuntime, HostRuntime, [String]) {
        var hosts: [HostRuntime] = []
        var directories: [String] = []
        for label in ["one", "two"] {
            let directory = TestSupport.temporaryDirectory("db-\(label)")
            try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true)
            chmod(directory + "/plugins.d", 0o755)
            try TestSupport.buildEventCounter(into: directory + "/plugins.d")
            try TestSupport.installBasketTally(into: directory + "/plugins.d")
            TestSupport.write("enabled: true\n", to: directory + "/plugins.d/event_counter.yaml")
            TestSupport.write("enabled: true\nsettings: {currency: GBP}\n", to: directory + "/plugins.d/basket_tally.yaml")
            TestSupport.write("plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndatabase:\n  url: \"\(url)\"\n", to: directory + "/config.yaml")
            let host = try HostRuntime(
                configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, emitted: InMemoryEventSink(),
                deadLetters: InMemoryDeadLetterSink())
            try host.start(watch: false, control: true)
            hosts.append(host)
            directories.append(directory)
        }
        return (hosts[0], hosts[1], directories)
    }

    func state(_ host: HostRuntime, _ name: String) -> PluginStatus? { host.status().plugins.first { $0.name == name } }

    @Test func togglingThroughTheDatabaseReachesEveryRunningHost() throws {
        let url = try TestDatabase.fresh()
        let (one, two, directories) = try twoHosts(url)
        defer {
            one.shutdown(drain: false)
            two.shutdown(drain: false)
        }
        let store = try #require(one.database?.configStore)
        // The first host seeded the rows from its YAML files; the second found them.
        let seeded = try store.rows()
        #expect(seeded["basket_tally"]?.enabled == true && seeded["basket_tally"]?.settings["currency"] == .string("GBP"))
        #expect(seeded["basket_tally"]?.updatedBy.contains("seeded from basket_tally.yaml") == true)

        // pluginctl (a real process) disables it centrally and waits for both hosts.
        let disable = try TestSupport.capture(TestSupport.product("pluginctl"), ["disable", "basket_tally", "--config", directories[0] + "/config.yaml"])
        #expect(disable.status == 0 && disable.output.contains("applied by 2 of 2 running hosts"), "\(disable.output)")
        #expect(state(one, "basket_tally")?.state == .disabled && state(two, "basket_tally")?.state == .disabled)
        // The YAML file was not touched: the database is the source of truth.
        #expect(try String(contentsOfFile: directories[0] + "/plugins.d/basket_tally.yaml", encoding: .utf8).contains("enabled: true"))

        // A direct write (another tool) is picked up through NOTIFY alone.
        let version = try store.write(name: "basket_tally", by: "test") { row in (true, row!.isolation, .object(["currency": .string("EUR")])) }
        #expect(TestSupport.eventually { [one, two].allSatisfy { state($0, "basket_tally")?.settings?["currency"] == .string("EUR") } })
        #expect(TestSupport.eventually { (try? store.liveHosts().allSatisfy { $0.applied >= version }) == true })
        #expect(try store.liveHosts().count == 2)

        let trail = try store.audit(name: "basket_tally")
        #expect(trail.count == 3 && trail.map(\.by).last == "test")
        #expect(trail[1].change["enabled"] == .bool(false) && trail[1].change["previous"]?["enabled"] == .bool(true))
    }

    @Test func schemaInvalidSettingsAreRefusedBeforeTheyAreStored() throws {
        let url = try TestDatabase.fresh()
        let (one, two, directories) = try twoHosts(url)
        defer {
            one.shutdown(drain: false)
            two.shutdown(drain: false)
        }
        let store = try #require(one.database?.configStore)
        let before = try store.rows()["basket_tally"]
        let refused = try TestSupport.capture(
            TestSupport.product("pluginctl"), ["config", "set", "basket_tally", "currency", "YEN", "--config", directories[0] + "/config.yaml"])
        #expect(refused.status == 65 && refused.output.contains("nothing was changed"), "\(refused.output)")
        #expect(try store.rows()["basket_tally"] == before)
        let accepted = try TestSupport.capture(
            TestSupport.product("pluginctl"), ["config", "set", "basket_tally", "currency", "EUR", "--config", directories[1] + "/config.yaml"])
        #expect(accepted.status == 0, "\(accepted.output)")
        #expect(state(one, "basket_tally")?.settings?["currency"] == .string("EUR"))
    }

    @Test func concurrentWritersAreSerialisedWithAVersionEach() throws {
        let url = try TestDatabase.fresh()
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let store = PostgresConfigStore(pool: pool)
        let versions = Mutex<[Int64]>([])
        let group = DispatchGroup()
        for writer in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for round in 0..<5 {
                    // Read-modify-write of one counter in the settings: lost updates would show.
                    if let version = try? store.write(name: "fraud_detection", by: "writer \(writer)", { row in
                        let count = row?.settings["count"]?.numberValue ?? 0
                        return (round % 2 == 0, .process, .object(["count": .number(count + 1)]))
                    }) {
                        versions.withLock { $0.append(version) }
                    }
                }
            }
        }
        group.wait()
        let all = versions.withLock { $0 }
        #expect(all.count == 40 && Set(all).count == 40)
        let row = try #require(try store.rows()["fraud_detection"])
        #expect(row.settings["count"] == .number(40))
        #expect(row.version == all.max())
        #expect(try store.audit(name: "fraud_detection").count == 40)
    }

    @Test func aLostListenerCatchesUpWhenItReconnects() throws {
        let url = try TestDatabase.fresh()
        let (one, two, _) = try twoHosts(url)
        defer {
            one.shutdown(drain: false)
            two.shutdown(drain: false)
        }
        let admin = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        // Cut every listener's connection, then change the configuration while they are away.
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        let store = try #require(one.database?.configStore)
        try store.write(name: "event_counter", by: "test") { row in (false, row!.isolation, row!.settings) }
        #expect(TestSupport.eventually(within: 10) { state(one, "event_counter")?.state == .disabled && state(two, "event_counter")?.state == .disabled })
    }

    @Test func pluginStateSurvivesAHostRestart() throws {
        let url = try TestDatabase.fresh()
        let host = try HostProcess(
            label: "durable",
            configText: "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndead_letter_file: var/dlq.jsonl\nemitted_events_file: var/emitted.jsonl\ndatabase:\n  url: \"\(url)\"\n")
        try host.start()
        host.send((0..<4).map { HostProcess.itemAdded($0, basket: "b7") })
        #expect(TestSupport.eventually { (try? host.plugin("basket_tally")?.metrics.handled) == 4 })
        #expect(host.finish() == 0)

        let next = try host.restarted()
        let answer = try next.pluginctl("query", "basket_tally", "basket", #"{"basket_id": "b7"}"#)
        #expect(answer.status == 0 && answer.output.contains(#""items":4"#) && answer.output.contains(#""total_cents":500"#), "\(answer.output)")
        #expect(try next.pluginctl("query", "event_counter", "counts").output == #"{"ITEM_ADDED":4}"# + "\n")
        #expect(next.finish() == 0)
    }

    @Test func aDatabaseRestartWhileRunningLosesNothingAndDeadLettersNothing() throws {
        let cluster = TestSupport.temporaryDirectory("pg-restart") + "/cluster"
        let script = TestSupport.packageRoot + "/scripts/private-postgres"
        let url = try TestSupport.run(script, ["start", cluster]).output.split(separator: "\n").last.map(String.init) ?? ""
        defer { _ = try? TestSupport.capture(script, ["stop", cluster]) }
        let host = try HostProcess(
            label: "db-restart",
            configText: "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndead_letter_file: var/dlq.jsonl\nemitted_events_file: var/emitted.jsonl\ndatabase:\n  url: \"\(url)\"\n")
        try host.start()
        host.send((0..<20).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.handled) == 20 })

        try TestSupport.run(script, ["stop", cluster])
        // A basket never seen: its state is not in the worker's cache, so reads hit the outage too.
        host.send((20..<40).map { HostProcess.itemAdded($0, basket: "basket_2") })
        usleep(1_500_000)  // the plugins keep trying while the database is down
        _ = try TestSupport.run(script, ["start", cluster])
        #expect(TestSupport.eventually(within: 20) { (try? host.pluginctl("query", "event_counter", "counts").output) == #"{"ITEM_ADDED":40}"# + "\n" })
        #expect(TestSupport.eventually { (try? host.plugin("basket_tally")?.metrics.queueDepth) == 0 })
        let status = try host.status()
        #expect(status.plugins.allSatisfy { $0.metrics.deadLettered == 0 }, "\(status.plugins.map { "\($0.name): \($0.metrics)" })")
        let letters = (try? String(contentsOfFile: host.directory + "/var/dlq.jsonl", encoding: .utf8)) ?? ""
        #expect(letters.isEmpty, "\(letters)")
        #expect(host.log.contains("state store unavailable, waiting"))
        #expect(host.finish() == 0)
    }

    @Test func anUnavailableDatabaseAtStartupIsRetriedWithAClearError() throws {
        let cluster = TestSupport.temporaryDirectory("pg-late") + "/cluster"
        let url = "host=\(cluster) port=5432 dbname=postgres user=postgres"
        let host = try HostProcess(
            label: "late-db",
            configText: "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndatabase:\n  url: \"\(url)\"\n  connect_timeout_s: 60\n")
        try host.process.run()
        #expect(TestSupport.eventually(within: 10) { host.log.contains("the database is unavailable, retrying") })
        try TestSupport.run(TestSupport.packageRoot + "/scripts/private-postgres", ["start", cluster])
        defer { _ = try? TestSupport.capture(TestSupport.packageRoot + "/scripts/private-postgres", ["stop", cluster]) }
        #expect(TestSupport.eventually(within: 20) { (try? host.plugin("event_counter")?.state) == .running }, "\(host.log)")
        #expect(host.finish() == 0)
    }
}
