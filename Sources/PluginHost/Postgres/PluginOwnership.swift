import Foundation
import Logging

/// Which host consumes and writes each plugin when several hosts share one database: exactly
/// one at a time, the holder of the plugin's lease in `pos_plugin_owners` (ADR 12).
///
/// - Placement: each plugin goes to the live host that wins a rendezvous hash of (plugin, host),
///   so adding a host moves only the plugins it wins, and the plugins spread over the hosts.
///   A host that loses the hash hands the plugin over (finishes its batch, stops consuming,
///   gives the lease back); a dead host's lease expires after `leaseSeconds` and the winner
///   among the live hosts takes it (any live host, when the winner does not within a second
///   lease period).
/// - Fencing: every commit of the plugin's state checks, in its own transaction, that this
///   host still holds the lease with the epoch it acquired (``fence(plugin:in:)``). A host that
///   stalled past its lease cannot write after another took over: its commit rolls back.
/// - One writer per plugin means no lost update for state written from several partitions
///   (per employee, per product, global counters), and one outbox relay publishing its rows.
public final class PluginOwnership: @unchecked Sendable {
    // @unchecked: `wanted` and `held` are guarded by `lock`; callbacks are set before start().
    let pool: PostgresPool
    public let hostID: String
    let leaseSeconds: Double
    let tickMilliseconds: UInt32
    let logger: Logger
    private let lock = NSLock()
    private var wanted: Set<String> = []
    private var held: [String: Int64] = [:]
    /// Held plugins being handed over: their last batch may still commit, but nothing new starts.
    private var releasing: Set<String> = []
    private let stopped = AtomicFlag()
    private let finished = DispatchSemaphore(value: 0)
    /// Called on the ownership thread after this host acquired a plugin's lease.
    var onAcquired: (@Sendable (String) -> Void)?
    /// Called on the ownership thread when this host no longer holds a plugin: `handover`
    /// true when it gives the plugin to another host (finish cleanly), false when the lease was
    /// lost (another host may already be writing).
    var onReleased: (@Sendable (String, _ handover: Bool) -> Void)?

    public struct Lost: Error, CustomStringConvertible {
        public let plugin: String
        public var description: String { "this host no longer holds the lease of \(plugin) (another host took it over)" }
    }

    public init(pool: PostgresPool, hostID: String, leaseSeconds: Double = 3, tickMilliseconds: UInt32 = 400, logger: Logger) {
        self.pool = pool
        self.hostID = hostID
        self.leaseSeconds = leaseSeconds
        self.tickMilliseconds = tickMilliseconds
        self.logger = logger
    }

    /// This host runs `plugin` and may consume it when it wins the lease.
    func want(_ plugin: String) { lock.withLock { _ = wanted.insert(plugin) } }

    /// This host cannot consume `plugin` (its instance is not running): give its lease back at the
    /// next tick, so that another host takes it instead of a lease held with nothing consuming.
    func unwant(_ plugin: String) { lock.withLock { _ = wanted.remove(plugin) } }

    /// Whether this host holds `plugin` and may consume it.
    public func holds(_ plugin: String) -> Bool { lock.withLock { held[plugin] != nil && !releasing.contains(plugin) } }

    /// The plugins this host holds, with their epochs.
    public var heldPlugins: [String: Int64] { lock.withLock { held } }

    /// Throws ``Lost`` unless this host holds `plugin`'s lease, renewing it; runs inside the
    /// commit's transaction, so the check and the writes are atomic.
    func fence(plugin: String, in db: PostgresConnection) throws {
        do {
            let statement = try fenceStatement(plugin: plugin)
            try db.execute(statement.sql, statement.parameters)
        } catch let error as PostgresError where error.sqlState == Self.lostSQLState {
            throw Lost(plugin: plugin)
        }
    }

    /// The statement that renews `plugin`'s lease inside a commit and fails with
    /// ``lostSQLState`` unless this host still holds it with its epoch; throws ``Lost`` at once
    /// when this host does not hold it at all.
    func fenceStatement(plugin: String) throws -> PostgresStatement {
        guard let epoch = lock.withLock({ held[plugin] }) else { throw Lost(plugin: plugin) }
        return PostgresStatement(
            "SELECT pos_fence($1, $2, $3::bigint, $4::double precision)", [.text(plugin), .text(hostID), .text(String(epoch)), .text(String(leaseSeconds))])
    }

    /// The SQLSTATE `pos_fence` raises when the lease is lost (migration 5).
    static let lostSQLState = "PF001"

    func start() {
        let thread = Thread { [self] in
            defer { finished.signal() }
            while !stopped.isSet {
                do { try tick() } catch { logger.warning("plugin ownership: \(error)") }
                usleep(tickMilliseconds * 1000)
            }
        }
        thread.name = "ownership"
        thread.start()
    }

    /// Stops the ownership thread and gives every lease back (after `beforeRelease`, which stops
    /// consuming), so that other hosts take over at once instead of after the lease expires.
    func stop(beforeRelease: () -> Void) {
        stopped.set()
        finished.wait()
        beforeRelease()
        // No longer a candidate, before the leases are free: otherwise the others would hand this
        // host's plugins back to it, flapping, until its row aged out (a lease period).
        try? pool.with { db in _ = try db.execute("DELETE FROM pos_host_instances WHERE host_id = $1", [.text(hostID)]) }
        let all = lock.withLock { held }
        for (plugin, epoch) in all { try? release(plugin, epoch: epoch) }
        lock.withLock { held = [:] }
    }

    /// The rendezvous winner for `plugin` among `hosts` (highest FNV-1a of plugin and host).
    static func winner(of plugin: String, among hosts: [String]) -> String? {
        hosts.max { PluginDispatcher.stableHash(plugin + "\u{0}" + $0) < PluginDispatcher.stableHash(plugin + "\u{0}" + $1) }
    }

    /// How long applied event ids are remembered for duplicate detection (docs/persistence.md).
    public static let appliedWindowDays = 7
    private var ticks = 0

    func tick() throws {
        ticks += 1
        if ticks % 1500 == 1 {  // about every 10 minutes: the owner forgets ids past the window
            let mine = lock.withLock { Array(held.keys) }
            if !mine.isEmpty {
                try pool.with { db in
                    _ = try db.execute(
                        "DELETE FROM pos_applied_events WHERE plugin = ANY($1::text[]) AND applied_at < now() - make_interval(days => $2)",
                        [.text(PostgresArrayLiteral.text(mine)), .text(String(Self.appliedWindowDays))])
                }
            }
        }
        let live = try pool.with { db -> [String] in
            _ = try db.execute(
                "INSERT INTO pos_host_instances (host_id, seen_at) VALUES ($1, now()) ON CONFLICT (host_id) DO UPDATE SET seen_at = now()", [.text(hostID)])
            let rows = try db.execute(
                "SELECT host_id FROM pos_host_instances WHERE seen_at > now() - make_interval(secs => $1) ORDER BY host_id", [.text(String(leaseSeconds))])
            return rows.rows.compactMap { $0[0] ?? nil }
        }
        let (plugins, holding) = lock.withLock { (wanted.sorted(), held) }
        for (plugin, epoch) in holding where !plugins.contains(plugin) {
            logger.info("giving the lease of \(plugin) back: it does not run here", metadata: ["plugin": .string(plugin)])
            lock.withLock { _ = held.removeValue(forKey: plugin) }
            try release(plugin, epoch: epoch)
        }
        for plugin in plugins {
            let winner = Self.winner(of: plugin, among: live) ?? hostID
            if let epoch = holding[plugin] {
                if winner != hostID {
                    logger.info("handing \(plugin) over to \(winner)", metadata: ["plugin": .string(plugin)])
                    // Still held while the batch in flight finishes and commits; then given back.
                    lock.withLock { _ = releasing.insert(plugin) }
                    onReleased?(plugin, true)
                    lock.withLock {
                        _ = held.removeValue(forKey: plugin)
                        _ = releasing.remove(plugin)
                    }
                    try release(plugin, epoch: epoch)
                } else if try !renew(plugin, epoch: epoch) {
                    logger.warning("lost the lease of \(plugin)", metadata: ["plugin": .string(plugin)])
                    lock.withLock { _ = held.removeValue(forKey: plugin) }
                    onReleased?(plugin, false)
                }
            } else if let epoch = try acquire(plugin, asWinner: winner == hostID) {
                lock.withLock { held[plugin] = epoch }
                logger.info("consuming \(plugin) (lease epoch \(epoch))", metadata: ["plugin": .string(plugin)])
                onAcquired?(plugin)
            }
        }
    }

    /// Takes the lease when it is free (no row, or expired; when not the rendezvous winner,
    /// only once it has been expired for another lease period).
    func acquire(_ plugin: String, asWinner: Bool) throws -> Int64? {
        try pool.with { db in
            let rows = try db.execute(
                """
                INSERT INTO pos_plugin_owners (plugin, host_id, epoch, lease_until) VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                ON CONFLICT (plugin) DO UPDATE SET host_id = EXCLUDED.host_id, epoch = pos_plugin_owners.epoch + 1, lease_until = EXCLUDED.lease_until
                WHERE pos_plugin_owners.lease_until < now() - make_interval(secs => $4)
                RETURNING epoch
                """, [.text(plugin), .text(hostID), .text(String(leaseSeconds)), .text(String(asWinner ? 0 : leaseSeconds))])
            return rows.rows.isEmpty ? nil : rows.int(0, 0)
        }
    }

    func renew(_ plugin: String, epoch: Int64) throws -> Bool {
        try pool.with { db in
            let rows = try db.execute(
                """
                UPDATE pos_plugin_owners SET lease_until = now() + make_interval(secs => $4)
                WHERE plugin = $1 AND host_id = $2 AND epoch = $3 RETURNING 1
                """, [.text(plugin), .text(hostID), .text(String(epoch)), .text(String(leaseSeconds))])
            return !rows.rows.isEmpty
        }
    }

    func release(_ plugin: String, epoch: Int64) throws {
        try pool.with { db in
            _ = try db.execute("DELETE FROM pos_plugin_owners WHERE plugin = $1 AND host_id = $2 AND epoch = $3", [.text(plugin), .text(hostID), .text(String(epoch))])
        }
    }
}
