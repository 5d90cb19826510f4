import Foundation
import Logging

/// Publishes the events plugins emitted from `pos_outbox`, oldest first, and marks them
/// published once the sink confirmed them (they stay for causal delivery, then are pruned). At-least-once: a crash between publishing and deleting publishes
/// them again, with the same ids (derived from plugin, cause and position), so consumers drop
/// the duplicates by id.
final class OutboxRelay: @unchecked Sendable {
    // @unchecked: `stopped` is a lock-guarded flag; the loop runs on its own thread.
    let pool: PostgresPool
    let sink: any EmittedEventSink
    let logger: Logger
    private let stopped = AtomicFlag()
    private let finished = DispatchSemaphore(value: 0)
    static let batch = 500

    /// How long an idle relay waits for a notification before it looks anyway (a notification
    /// lost with a broken connection costs at most this).
    let idleWaitMilliseconds: Int32

    init(pool: PostgresPool, sink: any EmittedEventSink, logger: Logger, idleWaitMilliseconds: Int32 = 1_000) {
        self.pool = pool
        self.sink = sink
        self.logger = logger
        self.idleWaitMilliseconds = idleWaitMilliseconds
    }

    /// The channel a commit that wrote outbox rows notifies (in its transaction, so the
    /// notification arrives once the rows are visible).
    static let channel = "pos_outbox"

    func start() {
        let thread = Thread { [self] in
            defer { finished.signal() }
            var idleRounds = 0
            var lastPrune = DispatchTime.now().uptimeNanoseconds
            let wake = RelayWakeup(conninfo: pool.conninfo, logger: logger)
            while !stopped.isSet {
                var outcome = RelayOutcome.busyElsewhere
                do {
                    if DispatchTime.now().uptimeNanoseconds - lastPrune > 1_000_000_000 {
                        lastPrune = DispatchTime.now().uptimeNanoseconds
                        try prune()
                    }
                    outcome = try relay()
                } catch {
                    logger.error("outbox relay: \(error); retrying")
                    idleRounds = 20
                }
                if outcome == .relayed(0), wake.wait(milliseconds: idleWaitMilliseconds) {
                    // Idle: woken by a commit's notification, or after the wait (a prune is due then).
                    idleRounds = 0
                    continue
                }
                if case .relayed(let count) = outcome, count > 0 {
                    idleRounds = 0
                    continue
                }
                // Another host's relay is publishing, the database failed, or nobody listens:
                // look again soon, backing off to 20 ms.
                idleRounds += 1
                usleep(UInt32(min(idleRounds, 20)) * 1_000)
            }
            _ = try? relayOnce()  // what the last commits left, before the host exits
        }
        thread.name = "outbox"
        thread.start()
    }

    func stop() {
        stopped.set()
        // Wakes the relay from its wait (and, harmlessly, other hosts' relays).
        _ = try? pool.with { db in try db.execute("NOTIFY \(Self.channel)") }
        finished.wait()
    }

    /// Deletes published rows every live participant has passed (ADR 14), and any published
    /// row older than a day (a plugin that falls that far behind no longer gets them).
    func prune() throws {
        try pool.with { db in
            _ = try db.execute(
                """
                DELETE FROM pos_outbox WHERE published AND (
                    created_at < now() - interval '1 day' OR order_time IS NULL OR NOT EXISTS (
                        SELECT 1 FROM pos_plugin_frontier f WHERE f.active AND f.updated_at > now() - make_interval(secs => $1)
                        AND (f.cursor_time, f.cursor_id) <= (pos_outbox.order_time, pos_outbox.order_id)))
                """, [.text(String(PostgresCausalLog.staleAfterSeconds))])
        }
    }

    /// The advisory lock that lets one relay at a time publish, whatever the number of hosts
    /// ("outbox" in ASCII): each row is published once (again only after a crash between
    /// publishing and committing the delete), and in the order it was committed.
    static let lockKey = "111117116098111120"

    /// Publishes and deletes one batch; returns how many events it relayed (0 as well while
    /// another host's relay holds the lock).
    @discardableResult
    func relayOnce() throws -> Int {
        if case .relayed(let count) = try relay() { return count }
        return 0
    }

    /// What one relay round did.
    enum RelayOutcome: Equatable {
        case relayed(Int)
        /// Another relay held the lock.
        case busyElsewhere
    }

    private func relay() throws -> RelayOutcome {
        try pool.with { connection in try connection.transaction { db in
            guard try db.execute("SELECT pg_try_advisory_xact_lock($1::bigint)", [.text(Self.lockKey)]).bool(0, 0) == true else { return .busyElsewhere }
            let rows = try db.execute(
                "SELECT id, event_id, type, key, time_ms, payload, causation_id, correlation_id, source FROM pos_outbox WHERE NOT published ORDER BY id LIMIT \(Self.batch)")
            guard !rows.rows.isEmpty else { return .relayed(0) }
            let events = rows.rows.indices.map { index in
                Event(
                    id: rows.text(index, 1) ?? "", type: rows.text(index, 2) ?? "", key: rows.text(index, 3) ?? "", timeMilliseconds: rows.int(index, 4) ?? 0,
                    payload: rows.bytes(index, 5) ?? [], causationId: rows.text(index, 6), correlationId: rows.text(index, 7), source: rows.text(index, 8))
            }
            try sink.publish(events)
            try sink.flush()
            // Exactly the rows published: ids are taken at insert but become visible at commit, so
            // "id <= last" could delete a row committed meanwhile that was never published.
            let ids = rows.rows.indices.compactMap { rows.int($0, 0) }.map(String.init).joined(separator: ",")
            // Kept (published) for the plugins that take them in their causal place; pruned
            // once they all passed them (`prune`).
            try db.execute("UPDATE pos_outbox SET published = true WHERE id = ANY($1::bigint[])", [.text("{\(ids)}")])
            return .relayed(events.count)
        } }
    }
}

/// The relay's LISTEN connection: `wait` returns when a commit notified the outbox channel (or
/// after the timeout). Without a connection (the database is away) it says so and the relay
/// polls as before; it reconnects at most once a second.
final class RelayWakeup {
    let conninfo: String
    let logger: Logger
    private var connection: PostgresConnection?
    private var lastAttempt: UInt64 = 0

    init(conninfo: String, logger: Logger) {
        self.conninfo = conninfo
        self.logger = logger
    }

    /// False when there is no listening connection (the caller sleeps instead).
    func wait(milliseconds: Int32) -> Bool {
        if connection == nil {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now - lastAttempt > 1_000_000_000 else { return false }
            lastAttempt = now
            do {
                let fresh = try PostgresConnection(conninfo: conninfo, logger: logger)
                try fresh.execute("LISTEN \(OutboxRelay.channel)")
                connection = fresh
                // What was committed before the LISTEN notified nobody: look once more first.
                return true
            } catch {
                logger.warning("outbox relay cannot listen for commits (polling meanwhile): \(error)")
                return false
            }
        }
        do {
            _ = try connection?.notifications(timeoutMilliseconds: milliseconds)
            return true
        } catch {
            connection = nil
            return false
        }
    }
}
