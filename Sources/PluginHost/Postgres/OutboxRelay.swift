import Foundation
import Logging

/// Publishes the events plugins emitted from `pos_outbox`, oldest first, and deletes them once
/// the sink confirmed them. At-least-once: a crash between publishing and deleting publishes
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
            while !stopped.isSet {
                do {
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

    /// Publishes and deletes one batch; returns how many events it relayed.
    @discardableResult
    func relayOnce() throws -> Int {
        try pool.with { db in
            let rows = try db.execute(
                "SELECT id, event_id, type, key, time_ms, payload, causation_id, correlation_id, source FROM pos_outbox ORDER BY id LIMIT \(Self.batch)")
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
            try db.execute("DELETE FROM pos_outbox WHERE id = ANY($1::bigint[])", [.text("{\(ids)}")])
            return events.count
        }
    }
}
