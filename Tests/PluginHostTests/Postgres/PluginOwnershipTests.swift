import Foundation
import Synchronization
import Testing

@testable import PluginHost

/// The lease mechanics on a real PostgreSQL: one holder at a time, fenced commits, handover to
/// the rendezvous winner, and a lease given back when the plugin does not run here.
@Suite struct PluginOwnershipTests {
    func ownership(_ url: String, _ host: String) throws -> PluginOwnership {
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        return PluginOwnership(pool: pool, hostID: host, logger: TestSupport.quietLogger)
    }

    @Test func oneHolderFencedHandedOverAndGivenBack() throws {
        let url = try TestDatabase.fresh("ownership")
        let a = try ownership(url, "host-a")
        let b = try ownership(url, "host-b")
        let winner = PluginOwnership.winner(of: "p", among: ["host-a", "host-b"])!
        let (first, second) = winner == "host-a" ? (b, a) : (a, b)  // `first` is the loser
        let released = Mutex<[String]>([])
        first.onReleased = { plugin, handover in released.withLock { $0.append("\(plugin) \(handover)") } }

        // Alone, the loser takes the free lease.
        first.want("p")
        try first.tick()
        #expect(first.holds("p"))
        let db = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        try first.fence(plugin: "p", in: db)
        #expect(throws: PluginOwnership.Lost.self) { try second.fence(plugin: "p", in: db) }

        // The winner appears: the loser hands over, the winner takes it; fencing follows.
        second.want("p")
        try second.tick()  // heartbeat; the lease is still held
        #expect(!second.holds("p"))
        try first.tick()
        #expect(!first.holds("p") && released.withLock { $0 } == ["p true"])
        try second.tick()
        #expect(second.holds("p"))
        try second.fence(plugin: "p", in: db)
        #expect(throws: PluginOwnership.Lost.self) { try first.fence(plugin: "p", in: db) }

        // A plugin that no longer runs on the holder: the lease goes back, the row is gone.
        second.unwant("p")
        try second.tick()
        #expect(!second.holds("p"))
        #expect(try db.execute("SELECT count(*) FROM pos_plugin_owners WHERE plugin = 'p'").int(0, 0) == 0)
    }
}

extension PluginOwnershipTests {
    /// A host that stops leaves the candidates at once: the other takes its plugins and keeps
    /// them (before, it handed them back to the stopped host until that host's row aged out).
    @Test func aStoppedHostsPluginsStayWithTheOthers() throws {
        let url = try TestDatabase.fresh("ownershipstop")
        let a = try ownership(url, "host-a")
        let b = try ownership(url, "host-b")
        let winner = PluginOwnership.winner(of: "p", among: ["host-a", "host-b"])!
        let (loser, stopping) = winner == "host-a" ? (b, a) : (a, b)
        stopping.want("p")
        loser.want("p")
        try stopping.tick()
        try loser.tick()
        #expect(stopping.holds("p") && !loser.holds("p"))
        stopping.start()  // stop joins the ownership thread
        stopping.stop {}
        for _ in 0..<3 { try loser.tick() }
        #expect(loser.holds("p"))
    }
}

/// A commit goes to the database in one round trip (ADR 21), so the lease check cannot stop
/// the writes from the client: it must abort them in the server.
@Suite struct PipelinedCommitTests {
    @Test func aCommitAfterTheLeaseWasTakenWritesNothing() throws {
        let url = try TestDatabase.fresh("fencedcommit")
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let ownership = PluginOwnership(pool: pool, hostID: "host-a", logger: TestSupport.quietLogger)
        ownership.want("p")
        try ownership.tick()
        #expect(ownership.holds("p"))
        let store = PostgresStateStore(pool: pool) { plugin in try ownership.fenceStatement(plugin: plugin) }
        var commit = StateCommit()
        commit.add(writes: [Array("k".utf8): Array("v1".utf8)], emitted: [], position: EventPosition(topic: "t", partition: 0, offset: 4), applied: "e1")
        try store.commit(plugin: "p", commit)
        #expect(try store.get(plugin: "p", key: Array("k".utf8)) == Array("v1".utf8))

        // Another host took the lease meanwhile (a new epoch); this host has not noticed yet.
        let db = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        try db.execute("UPDATE pos_plugin_owners SET host_id = 'host-b', epoch = epoch + 1 WHERE plugin = 'p'")
        var late = StateCommit()
        late.add(writes: [Array("k".utf8): Array("v2".utf8), Array("other".utf8): Array("x".utf8)], emitted: [], position: EventPosition(topic: "t", partition: 0, offset: 5), applied: "e2")
        #expect(throws: PluginOwnership.Lost.self) { try store.commit(plugin: "p", late) }
        #expect(try db.execute("SELECT convert_from(value, 'UTF8') FROM pos_plugin_state WHERE plugin = 'p' ORDER BY key").rows == [["v1"]])
        #expect(try db.execute("SELECT event_id FROM pos_applied_events WHERE plugin = 'p'").rows == [["e1"]])
        #expect(try db.execute("SELECT next_offset FROM pos_consumer_positions WHERE plugin = 'p'").rows == [["5"]])
        // The connection that carried the aborted pipeline is usable again.
        #expect(try store.get(plugin: "p", key: Array("other".utf8)) == nil)
        let one = try pool.with { db in try db.execute("SELECT 1").rows }
        #expect(one == [["1"]])
    }

    @Test func aFailingStatementRollsBackTheWholePipeline() throws {
        let url = try TestDatabase.fresh("pipeline")
        let db = try PostgresConnection(conninfo: url, logger: TestSupport.quietLogger)
        try db.execute("CREATE TABLE t (n int PRIMARY KEY)")
        let rows = try db.pipelinedTransaction([PostgresStatement("INSERT INTO t VALUES ($1)", [.text("1")]), PostgresStatement("SELECT count(*) FROM t")])
        #expect(rows.map(\.rows) == [[], [["1"]]])
        #expect(throws: PostgresError.self) {
            try db.pipelinedTransaction([
                PostgresStatement("INSERT INTO t VALUES (2)"), PostgresStatement("INSERT INTO t VALUES (1)"), PostgresStatement("INSERT INTO t VALUES (3)"),
            ])
        }
        #expect(try db.execute("SELECT n FROM t ORDER BY n").rows == [["1"]])
        do {
            _ = try db.pipelinedTransaction([PostgresStatement("INSERT INTO t VALUES (1)")])
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.sqlState == "23505")  // the statement's own error, not the skipped ones'
        }
    }

    @Test func readsInABatchSeeItsUncommittedWrites() {
        let stored: [(key: [UInt8], value: [UInt8])] = [(Array("a/1".utf8), [1]), (Array("a/2".utf8), [2]), (Array("a/3".utf8), [3])]
        let overlay: [[UInt8]: [UInt8]?] = [Array("a/2".utf8): nil, Array("a/0".utf8): [9], Array("a/3".utf8): [33], Array("b/1".utf8): [7]]
        let merged = WorkerPluginInstance.overlaid(stored, prefix: Array("a/".utf8), overlay)
        #expect(merged.map { String(decoding: $0.key, as: UTF8.self) } == ["a/0", "a/1", "a/3"])
        #expect(merged.map(\.value) == [[9], [1], [33]])
        // Nothing of the batch under the prefix: the stored entries as they were.
        #expect(WorkerPluginInstance.overlaid(stored, prefix: Array("c/".utf8), overlay).map(\.key) == stored.map(\.key))
    }
}
