/// Plugin state in PostgreSQL (`pos_plugin_state`): durable across restarts and shared by the
/// hosts of a chain. Each commit is one transaction holding the state changes of the handled
/// events, the events they emitted (`pos_outbox`, published by ``OutboxRelay``) and how far the
/// plugin has read each partition (`pos_consumer_positions`, where its consumer resumes): a
/// crash at any instant loses none of it and applies none of it twice.
public final class PostgresStateStore: StateStore, PositionStore {
    let pool: PostgresPool
    /// The statement that checks, first in each commit's transaction, that this host may still
    /// write the plugin's state (see ``PluginOwnership``): it fails with `PF001` to roll the
    /// commit back. Throws when this host does not hold the plugin at all. Nil: no check.
    let fence: (@Sendable (String) throws -> PostgresStatement)?

    /// Reads already answered (see ``StateReadCache`` for why that is sound).
    let cache = StateReadCache()

    public init(pool: PostgresPool, fence: (@Sendable (String) throws -> PostgresStatement)? = nil) {
        self.pool = pool
        self.fence = fence
    }

    public func get(plugin: String, key: [UInt8]) throws -> [UInt8]? {
        let (hit, generation) = cache.value(plugin, key)
        if let hit { return hit }
        let value = try pool.with { db in
            let rows = try db.execute("SELECT value FROM pos_plugin_state WHERE plugin = $1 AND key = $2", [.text(plugin), .bytes(key)])
            return rows.rows.isEmpty ? nil : rows.bytes(0, 0)
        }
        cache.store(plugin, key, value, generation: generation)
        return value
    }

    public func scan(plugin: String, prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        let (hit, generation) = cache.scan(plugin, prefix)
        if let hit { return hit }
        let entries = try scanDatabase(plugin: plugin, prefix: prefix)
        cache.storeScan(plugin, prefix, entries, generation: generation)
        return entries
    }

    /// Drops the cached reads of `plugin`: it changed hands.
    public func forget(plugin: String) { cache.forget(plugin) }

    private func scanDatabase(plugin: String, prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        try pool.with { db in
            // Byte order of bytea is the order the ABI promises; the prefix test is done here
            // (not with LIKE, which would need escaping of binary keys).
            let rows = try db.execute(
                "SELECT key, value FROM pos_plugin_state WHERE plugin = $1 AND key >= $2 ORDER BY key", [.text(plugin), .bytes(prefix)])
            var entries: [(key: [UInt8], value: [UInt8])] = []
            for index in rows.rows.indices {
                let key = rows.bytes(index, 0) ?? []
                guard key.starts(with: prefix) else { break }
                entries.append((key, rows.bytes(index, 1) ?? []))
            }
            return entries
        }
    }

    public var keepsOutbox: Bool { true }

    public func commit(plugin: String, writes: [[UInt8]: [UInt8]?]) throws {
        var commit = StateCommit()
        commit.writes = writes
        try self.commit(plugin: plugin, commit)
    }

    public func commit(plugin: String, _ commit: StateCommit) throws {
        guard !commit.writes.isEmpty || !commit.emitted.isEmpty || !commit.positions.isEmpty || !commit.applied.isEmpty else { return }
        do {
            try write(plugin: plugin, commit)
        } catch {
            cache.forget(plugin)  // rolled back, or unknown: the database is the truth
            throw error
        }
        cache.committed(plugin, commit.writes)
    }

    /// One transaction, sent in one round trip (ADR 21): the fence, the applied ids, the upserts,
    /// the deletes, the emitted events and the positions, one statement each.
    private func write(plugin: String, _ commit: StateCommit) throws {
        var statements: [PostgresStatement] = []
        if let fence { statements.append(try fence(plugin)) }
        if !commit.applied.isEmpty {
            statements.append(PostgresStatement(
                "INSERT INTO pos_applied_events (plugin, event_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
                [.text(plugin), .text(PostgresArrayLiteral.text(commit.applied))]))
        }
        let upserts = commit.writes.compactMap { key, value in value.map { (key, $0) } }
        if !upserts.isEmpty {
            statements.append(PostgresStatement(
                """
                INSERT INTO pos_plugin_state (plugin, key, value) SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
                ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value
                """, [.text(plugin), .text(PostgresArrayLiteral.bytea(upserts.map(\.0))), .text(PostgresArrayLiteral.bytea(upserts.map(\.1)))]))
        }
        let deletes = commit.writes.compactMap { key, value in value == nil ? key : nil }
        if !deletes.isEmpty {
            statements.append(PostgresStatement(
                "DELETE FROM pos_plugin_state WHERE plugin = $1 AND key = ANY($2::bytea[])", [.text(plugin), .text(PostgresArrayLiteral.bytea(deletes))]))
        }
        if !commit.emitted.isEmpty {
            let events = commit.emitted
            // In the batch's order (WITH ORDINALITY), which is the outbox's.
            statements.append(PostgresStatement(
                """
                INSERT INTO pos_outbox (plugin, event_id, type, key, time_ms, payload, causation_id, correlation_id, source, order_time, order_id)
                SELECT $1, e.id, e.type, e.key, e.time_ms, e.payload, e.causation_id, e.correlation_id, e.source, e.time_ms, e.order_id
                FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::text[], $8::text[], $9::text[], $10::text[])
                    WITH ORDINALITY AS e(id, type, key, time_ms, payload, causation_id, correlation_id, source, order_id, n)
                ORDER BY e.n
                """,
                [
                    .text(plugin), .text(PostgresArrayLiteral.text(events.map(\.id))), .text(PostgresArrayLiteral.text(events.map(\.type))),
                    .text(PostgresArrayLiteral.text(events.map(\.key))), .text(PostgresArrayLiteral.text(events.map { String($0.timeMilliseconds) })),
                    .text(PostgresArrayLiteral.bytea(events.map(\.payload))), .text(PostgresArrayLiteral.text(events.map(\.causationId))),
                    .text(PostgresArrayLiteral.text(events.map(\.correlationId))), .text(PostgresArrayLiteral.text(events.map(\.source))),
                    .text(PostgresArrayLiteral.text(events.map { $0.orderKey.id })),
                ]))
            // Wakes the outbox relays at commit (they otherwise look once a second).
            statements.append(PostgresStatement("NOTIFY \(OutboxRelay.channel)"))
        }
        var next: [TopicPartition: Int64] = [:]
        for position in commit.positions {
            let partition = TopicPartition(topic: position.topic, partition: position.partition)
            next[partition] = max(next[partition] ?? 0, position.offset + 1)
        }
        if !next.isEmpty {
            // Every partition's position in one statement.
            let partitions = Array(next)
            statements.append(PostgresStatement(
                """
                INSERT INTO pos_consumer_positions (plugin, topic, partition, next_offset)
                SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o)
                ON CONFLICT (plugin, topic, partition) DO UPDATE SET next_offset = greatest(pos_consumer_positions.next_offset, EXCLUDED.next_offset)
                """,
                [
                    .text(plugin), .text(PostgresArrayLiteral.text(partitions.map(\.key.topic))),
                    .text(PostgresArrayLiteral.text(partitions.map { String($0.key.partition) })), .text(PostgresArrayLiteral.text(partitions.map { String($0.value) })),
                ]))
        }
        try pool.with { db in
            do {
                _ = try db.pipelinedTransaction(statements)
            } catch let error as PostgresError where error.sqlState == PluginOwnership.lostSQLState {
                throw PluginOwnership.Lost(plugin: plugin)
            }
        }
    }

    public func appliedEvents(plugin: String, among ids: [String]) throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return try pool.with { db in
            let rows = try db.execute(
                "SELECT event_id FROM pos_applied_events WHERE plugin = $1 AND event_id = ANY($2::text[])", [.text(plugin), .text(PostgresArrayLiteral.text(ids))])
            return Set(rows.rows.compactMap { $0[0] ?? nil })
        }
    }

    /// Forgets applied ids older than `days` (the documented de-duplication window).
    public func pruneAppliedEvents(olderThanDays days: Int) throws {
        try pool.with { db in
            _ = try db.execute("DELETE FROM pos_applied_events WHERE applied_at < now() - make_interval(days => $1)", [.text(String(days))])
        }
    }

    public func positions(plugin: String) throws -> [TopicPartition: Int64] {
        try pool.with { db in
            let rows = try db.execute("SELECT topic, partition, next_offset FROM pos_consumer_positions WHERE plugin = $1", [.text(plugin)])
            var result: [TopicPartition: Int64] = [:]
            for index in rows.rows.indices {
                result[TopicPartition(topic: rows.text(index, 0) ?? "", partition: Int32(rows.int(index, 1) ?? 0))] = rows.int(index, 2) ?? 0
            }
            return result
        }
    }
}
