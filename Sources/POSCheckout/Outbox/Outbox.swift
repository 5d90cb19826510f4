import Foundation
import Logging
import POSPlatform

/// The transactional outbox: a change and its events commit in one transaction (`append`);
/// `publish` then sends them and records where they landed. A sweeper republishes what a crash
/// or an unreachable broker left behind, with the same event ids (the host drops a repeated id),
/// so no change is without its event and no event without its change.
public final class Outbox: Sendable {
    let database: Database
    let producer: KafkaProducer
    let topic: String
    let logger: Logger
    private let sweeper: AtomicFlag
    /// The latest position published per basket by this instance (before the database is
    /// marked), so a read right after a change waits for it.
    private let recent = RecentPositions()

    public init(database: Database, producer: KafkaProducer, topic: String, logger: Logger) {
        self.database = database
        self.producer = producer
        self.topic = topic
        self.logger = logger
        sweeper = AtomicFlag()
    }

    /// A row of the outbox: its sequence number and the event.
    public struct Row: Sendable {
        public let seq: Int64
        public let event: CheckoutEvent
    }

    /// Records `events` in the caller's transaction; returns the rows to publish after commit.
    public static func append(_ events: [CheckoutEvent], in db: PostgresConnection) throws -> [Row] {
        guard !events.isEmpty else { return [] }
        let rows = try db.execute(
            """
            INSERT INTO api_outbox (event_id, key, type, value, correlation)
            SELECT e, k, t, v, c FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[]) WITH ORDINALITY AS u(e, k, t, v, c, n) ORDER BY n
            RETURNING seq, event_id
            """,
            [
                .text(PostgresArrayLiteral.text(events.map(\.id))), .text(PostgresArrayLiteral.text(events.map(\.key))),
                .text(PostgresArrayLiteral.text(events.map(\.type))), .text(PostgresArrayLiteral.bytea(events.map(\.value))),
                .text(PostgresArrayLiteral.text(events.map(\.correlationId))),
            ])
        var seqById: [String: Int64] = [:]
        for row in 0..<rows.rows.count { seqById[rows.text(row, 1) ?? ""] = rows.int(row, 0) }
        return events.map { Row(seq: seqById[$0.id] ?? 0, event: $0) }
    }

    /// Sends the rows (in order) and waits for the broker; records and returns their positions.
    /// A row that cannot be sent now stays unpublished for the sweeper; its position is nil.
    public func publish(_ rows: [Row]) async -> [PublishedPosition?] {
        guard !rows.isEmpty else { return [] }
        var positions: [PublishedPosition?] = []
        for row in rows {
            let delivery: KafkaDelivery? = await withCheckedContinuation { continuation in
                do {
                    try producer.produce(topic: topic, key: Array(row.event.key.utf8), value: row.event.value, headers: row.event.headers) { result in
                        continuation.resume(returning: try? result.get())
                    }
                } catch {
                    logger.warning("outbox: cannot queue \(row.event.type) \(row.event.id): \(error); the sweeper retries")
                    continuation.resume(returning: nil)
                }
            }
            positions.append(delivery.map { PublishedPosition(topic: topic, partition: Int($0.partition), offset: Int($0.offset), eventId: row.event.id) })
        }
        for (row, position) in zip(rows, positions) {
            if let position, let correlation = row.event.correlationId { recent.set(correlation, position) }
        }
        let delivered = zip(rows, positions).compactMap { row, position in position.map { (row.seq, $0) } }
        // Marked off the request's path: a mark that comes late (or never, after a crash) only
        // makes the sweeper send the event again, and the host drops the repeated id.
        if !delivered.isEmpty {
            Task { await mark(delivered) }
        }
        return positions
    }

    private func mark(_ delivered: [(Int64, PublishedPosition)]) async {
        do {
            try await database.run { db in
                    try db.execute(
                        """
                        UPDATE api_outbox o SET published = true, partition = d.partition, "offset" = d.off
                        FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS d(seq, partition, off) WHERE o.seq = d.seq
                        """,
                        [
                            .text(PostgresArrayLiteral.text(delivered.map { String($0.0) })),
                            .text(PostgresArrayLiteral.text(delivered.map { String($0.1.partition) })),
                            .text(PostgresArrayLiteral.text(delivered.map { String($0.1.offset) })),
                        ])
            }
        } catch {
            logger.warning("outbox: cannot mark \(delivered.count) events published: \(error)")
        }
    }

    /// Where the latest published event of a basket (or flow) landed: what a read that must
    /// reflect the basket's history waits for.
    public func latestPosition(of correlation: String) async throws -> PublishedPosition? {
        if let known = recent.get(correlation) { return known }
        let topic = self.topic
        return try await database.run { db in try Self.latestPosition(of: correlation, topic: topic, in: db) }
    }

    static func latestPosition(of correlation: String, topic: String, in db: PostgresConnection) throws -> PublishedPosition? {
        let rows = try db.execute(
            "SELECT partition, \"offset\", event_id FROM api_outbox WHERE correlation = $1 AND published ORDER BY seq DESC LIMIT 1", [.text(correlation)])
        guard !rows.rows.isEmpty, let partition = rows.int(0, 0), let offset = rows.int(0, 1), let id = rows.text(0, 2) else { return nil }
        return PublishedPosition(topic: topic, partition: Int(partition), offset: Int(offset), eventId: id)
    }

    /// Publishes, oldest first, what stayed unpublished for longer than `graceSeconds` (a crash
    /// between commit and publish, a broker outage), every second until `stop()`.
    public func startSweeper(graceSeconds: Int = 2) {
        Task.detached { [self] in
            while !sweeper.isSet {
                do {
                    let rows = try await database.run { db -> [Row] in
                        let result = try db.execute(
                            "SELECT seq, value FROM api_outbox WHERE NOT published AND created_at < now() - make_interval(secs => $1) ORDER BY seq LIMIT 500",
                            [.text(String(graceSeconds))])
                        return (0..<result.rows.count).compactMap { row in
                            guard let seq = result.int(row, 0), let bytes = result.bytes(row, 1), let event = CheckoutEvent(envelope: bytes) else { return nil }
                            return Row(seq: seq, event: event)
                        }
                    }
                    if !rows.isEmpty {
                        logger.notice("outbox: republishing \(rows.count) events left unpublished")
                        _ = await publish(rows)
                    }
                } catch {
                    logger.warning("outbox sweeper: \(error)")
                }
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }

    public func stop() { sweeper.set() }
}

extension CheckoutEvent {
    /// The event back from its stored envelope (for the sweeper).
    init?(envelope bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes), let id = value["id"]?.stringValue, let type = value["type"]?.stringValue,
            let key = value["key"]?.stringValue, let time = value["time_ms"]?.exactInteger, case .object(let payload)? = value["payload"]
        else { return nil }
        self.init(type: type, terminalId: key, correlationId: value["correlation_id"]?.stringValue, payload: payload, at: time)
        self.id = id
    }
}

/// A bounded map of basket -> latest published position (cleared when it grows large: the
/// database answers for what it forgot).
final class RecentPositions: @unchecked Sendable {
    // @unchecked: `map` is only touched under `lock`.
    private let lock = NSLock()
    private var map: [String: PublishedPosition] = [:]

    func set(_ key: String, _ position: PublishedPosition) {
        lock.withLock {
            if map.count > 20_000 { map.removeAll(keepingCapacity: true) }
            if let known = map[key], known.partition == position.partition, known.offset > position.offset { return }
            map[key] = position
        }
    }

    func get(_ key: String) -> PublishedPosition? { lock.withLock { map[key] } }
}
