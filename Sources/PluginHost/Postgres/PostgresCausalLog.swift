import Foundation

/// The causal log of several hosts sharing one database: each plugin's frontier and cursor in
/// `pos_plugin_frontier` (written by the host consuming the plugin), emitted events read from
/// `pos_outbox`, where they were committed with the state of the event that caused them. A
/// view is one statement, so it sees one snapshot: an emitted event is either visible there or
/// its emitter's frontier still lies below it (the frontier only moves on after the commit).
public final class PostgresCausalLog: CausalLog, @unchecked Sendable {
    // @unchecked: `participantsSnapshot` is guarded by `participantsLock`.
    let pool: PostgresPool
    /// A participant whose row has not been renewed for this long (its host died, or it was
    /// removed) is no longer waited for; its next owner publishes again.
    public static let staleAfterSeconds = 60

    public init(pool: PostgresPool) { self.pool = pool }

    /// One participant's row as the last view read it.
    struct Participant: Sendable {
        var plugin: String
        var frontier: OrderKey
        /// The first event emitted by another that it has not passed yet.
        var firstUnpassed: OrderKey?
        var read: [TopicPartition: Int64]
        var role: CausalRole
        var live: Bool
    }

    /// The participants' rows are the same question for every plugin of this host: read once
    /// per `sharedViewNanoseconds` and shared by the feeds that ask meanwhile (five plugins each
    /// asking every millisecond while they hold an event were most of the host's database
    /// load). A shared answer is one statement's snapshot, only older, which is what a plugin
    /// asking a little earlier would have seen: every emitted event below its frontiers was
    /// committed before it, so the emissions read afterwards are complete up to them.
    private let participantsLock = NSLock()
    private var participantsSnapshot: (at: UInt64, rows: [Participant])?
    static let sharedViewNanoseconds: UInt64 = 1_000_000

    private func participants(_ db: PostgresConnection) throws -> [Participant] {
        participantsLock.lock()
        defer { participantsLock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        if let snapshot = participantsSnapshot, now - snapshot.at < Self.sharedViewNanoseconds { return snapshot.rows }
        let others = try db.execute(
            """
            SELECT f.frontier_time, f.frontier_id, e.order_time, e.order_id, f.read_positions, f.plugin, f.subscriptions, f.emits,
                f.active AND f.updated_at > now() - make_interval(secs => $1)
            FROM pos_plugin_frontier f
            LEFT JOIN LATERAL (
                SELECT o.order_time, o.order_id FROM pos_outbox o
                WHERE o.plugin <> f.plugin AND o.order_time IS NOT NULL AND (o.order_time, o.order_id) >= (f.cursor_time, f.cursor_id)
                ORDER BY o.order_time, o.order_id LIMIT 1) e ON true
            """, [.text(String(Self.staleAfterSeconds))])
        let rows = others.rows.indices.map { row in
            Participant(
                plugin: others.text(row, 5) ?? "",
                frontier: OrderKey(time: others.int(row, 0) ?? .min, id: others.text(row, 1) ?? ""),
                firstUnpassed: others.int(row, 2).map { OrderKey(time: $0, id: others.text(row, 3) ?? "") },
                read: Self.decode(others.text(row, 4) ?? ""),
                role: CausalRole(
                    subscriptions: (others.text(row, 6) ?? "*").split(separator: " ").map(String.init),
                    emits: others.text(row, 7).map { $0.split(separator: " ").map(String.init) }),
                live: others.bool(row, 8) == true)
        }
        // Stamped when the answer arrived: its snapshot is at least that recent.
        participantsSnapshot = (DispatchTime.now().uptimeNanoseconds, rows)
        return rows
    }

    public func register(_ plugin: String, subscriptions: [String], emits: [String]?) throws {
        try pool.with { db in
            _ = try db.execute(
                """
                INSERT INTO pos_plugin_frontier (plugin, frontier_time, frontier_id, cursor_time, cursor_id, active, subscriptions, emits)
                VALUES ($1, $2, '', $2, '', true, $3, $4)
                ON CONFLICT (plugin) DO UPDATE SET active = true, updated_at = now(), subscriptions = EXCLUDED.subscriptions, emits = EXCLUDED.emits
                """, [.text(plugin), .text(String(Int64.min)), .text(subscriptions.joined(separator: " ")), emits.map { .text($0.joined(separator: " ")) } ?? .null])
        }
    }

    public func cursor(of plugin: String) throws -> OrderKey {
        try pool.with { db in
            let rows = try db.execute("SELECT cursor_time, cursor_id FROM pos_plugin_frontier WHERE plugin = $1", [.text(plugin)])
            guard !rows.rows.isEmpty, let time = rows.int(0, 0) else { return .bottom }
            return OrderKey(time: time, id: rows.text(0, 1) ?? "")
        }
    }

    public func publish(_ plugin: String, frontier: OrderKey, cursor: OrderKey, read: [TopicPartition: Int64], active: Bool) throws {
        try pool.with { db in
            _ = try db.execute(
                """
                INSERT INTO pos_plugin_frontier (plugin, frontier_time, frontier_id, cursor_time, cursor_id, read_positions, active)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (plugin) DO UPDATE SET frontier_time = EXCLUDED.frontier_time, frontier_id = EXCLUDED.frontier_id,
                    cursor_time = EXCLUDED.cursor_time, cursor_id = EXCLUDED.cursor_id, read_positions = EXCLUDED.read_positions,
                    active = EXCLUDED.active, updated_at = now()
                """,
                [
                    .text(plugin), .text(String(frontier.time)), .text(frontier.id), .text(String(cursor.time)), .text(cursor.id),
                    .text(Self.encode(read)), .text(active ? "true" : "false"),
                ])
        }
    }

    /// `topic/partition=offset;...` (topic names hold none of `/`, `=`, `;`).
    static func encode(_ positions: [TopicPartition: Int64]) -> String {
        positions.map { "\($0.key.topic)/\($0.key.partition)=\($0.value)" }.sorted().joined(separator: ";")
    }

    static func decode(_ text: String) -> [TopicPartition: Int64] {
        var positions: [TopicPartition: Int64] = [:]
        for entry in text.split(separator: ";") {
            let parts = entry.split(separator: "=")
            guard parts.count == 2, let offset = Int64(parts[1]), let slash = parts[0].lastIndex(of: "/"), let partition = Int32(parts[0][parts[0].index(after: slash)...]) else { continue }
            positions[TopicPartition(topic: String(parts[0][..<slash]), partition: partition)] = offset
        }
        return positions
    }

    public func view(for plugin: String, cursor: OrderKey, through limit: OrderKey, maxEmissions: Int, lateAfter: Int64?) throws -> CausalView {
        var view = try ordered(for: plugin, cursor: cursor, through: limit, maxEmissions: maxEmissions)
        guard let lateAfter else { return view }
        try pool.with { db in
            // Outbox ids are taken at insert and become visible at commit, so look back a little;
            // what this plugin already applied is left out here, what it took is left out by it.
            let rows = try db.execute(
                """
                SELECT \(Self.columns), id FROM pos_outbox o
                WHERE o.id > $2 AND o.plugin <> $1 AND o.order_time IS NOT NULL AND (o.order_time, o.order_id) < ($3::bigint, $4::text COLLATE "C")
                    AND NOT EXISTS (SELECT 1 FROM pos_applied_events a WHERE a.plugin = $1 AND a.event_id = o.event_id)
                ORDER BY id LIMIT 500
                """, [.text(plugin), .text(String(max(0, lateAfter - 500))), .text(String(cursor.time)), .text(cursor.id)])
            view.late = Self.events(rows)
            let last = try db.execute("SELECT coalesce(max(id), 0) FROM pos_outbox")
            view.sequence = last.int(0, 0) ?? lateAfter
        }
        return view
    }

    static let columns = "event_id, type, key, time_ms, payload, causation_id, correlation_id, source, order_id"

    static func events(_ rows: PostgresRows, limit: Int = .max) -> [Event] {
        rows.rows.indices.prefix(limit).map { index in
            var event = Event(
                id: rows.text(index, 0) ?? "", type: rows.text(index, 1) ?? "", key: rows.text(index, 2) ?? "", timeMilliseconds: rows.int(index, 3) ?? 0,
                payload: rows.bytes(index, 4) ?? [], causationId: rows.text(index, 5), correlationId: rows.text(index, 6), source: rows.text(index, 7))
            event.orderId = rows.text(index, 8)
            return event
        }
    }

    private func ordered(for plugin: String, cursor: OrderKey, through limit: OrderKey, maxEmissions: Int) throws -> CausalView {
        try pool.with { db in
            // Each other live participant: its frontier, and the first event emitted by someone
            // else that it has not passed yet.
            let others = try participants(db)
            var roles: [String: CausalRole] = [:]
            for participant in others { roles[participant.plugin] = participant.role }
            let upstream = CausalRole.upstream(of: plugin, roles: roles)
            var frontier = OrderKey.top
            var read: [[TopicPartition: Int64]] = []
            for participant in others where upstream.contains(participant.plugin) && participant.live {
                frontier = min(frontier, participant.frontier)
                if let first = participant.firstUnpassed { frontier = min(frontier, first) }
                read.append(participant.read)
            }
            let othersRead = CausalView.least(read)
            let bound = min(frontier, limit)
            guard cursor <= bound else { return CausalView(othersFrontier: frontier, emissions: [], complete: true, othersRead: othersRead, othersCount: read.count) }
            let rows = try db.execute(
                """
                SELECT \(Self.columns) FROM pos_outbox
                WHERE plugin <> $1 AND order_time IS NOT NULL
                    AND (order_time, order_id) >= ($2::bigint, $3::text COLLATE "C") AND (order_time, order_id) <= ($4::bigint, $5::text COLLATE "C")
                ORDER BY order_time, order_id LIMIT $6
                """,
                [
                    .text(plugin), .text(String(cursor.time)), .text(cursor.id), .text(String(bound.time)), .text(bound.id),
                    .text(String(maxEmissions + 1)),
                ])
            let emissions = Self.events(rows, limit: maxEmissions)
            return CausalView(
                othersFrontier: frontier, emissions: emissions, complete: rows.rows.count <= maxEmissions, othersRead: othersRead, othersCount: read.count)
        }
    }

    /// Emitted events are read from the outbox, where the state store put them.
    public func append(_ emitted: [Event], by plugin: String) {}
}
