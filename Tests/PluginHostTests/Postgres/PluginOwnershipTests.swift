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
