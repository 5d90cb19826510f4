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

    init(pool: PostgresPool, sink: any EmittedEventSink, logger: Logger) {
        self.pool = pool
        self.sink = sink
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            defer { finished.signal() }
            var idleRounds = 0
            var lastPrune = DispatchTime.now().uptimeNanoseconds
            while !stopped.isSet {
                do {
                    if DispatchTime.now().uptimeNanoseconds - lastPrune > 1_000_000_000 {
                        lastPrune = DispatchTime.now().uptimeNanoseconds
                        try prune()
                    }
                    let relayed = try relayOnce()
                    idleRounds = relayed == 0 ? idleRounds + 1 : 0
                } catch {
                    logger.error("outbox relay: \(error); retrying")
                    idleRounds = 20
                }
                // Poll fast while there is work, back off to 20 ms when idle.
                if idleRounds > 0 { usleep(UInt32(min(idleRounds, 20)) * 1_000) }
            }
            _ = try? relayOnce()  // what the last commits left, before the host exits
        }
        thread.name = "outbox"
        thread.start()
    }

    func stop() {
        stopped.set()
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
        try pool.with { connection in try connection.transaction { db in
            guard try db.execute("SELECT pg_try_advisory_xact_lock($1::bigint)", [.text(Self.lockKey)]).bool(0, 0) == true else { return 0 }
            let rows = try db.execute(
                "SELECT id, event_id, type, key, time_ms, payload, causation_id, correlation_id, source FROM pos_outbox WHERE NOT published ORDER BY id LIMIT \(Self.batch)")
            guard !rows.rows.isEmpty else { return 0 }
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
            return events.count
        } }
    }
}
