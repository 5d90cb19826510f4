/// Plugin state in PostgreSQL (`pos_plugin_state`): durable across restarts and shared by the
/// hosts of a chain. Each commit is one transaction.
public final class PostgresStateStore: StateStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func get(plugin: String, key: [UInt8]) throws -> [UInt8]? {
        try pool.with { db in
            let rows = try db.execute("SELECT value FROM pos_plugin_state WHERE plugin = $1 AND key = $2", [.text(plugin), .bytes(key)])
            return rows.rows.isEmpty ? nil : rows.bytes(0, 0)
        }
    }

    public func scan(plugin: String, prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
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

    public func commit(plugin: String, writes: [[UInt8]: [UInt8]?]) throws {
        guard !writes.isEmpty else { return }
        try pool.with { db in
            try db.transaction { db in
                for (key, value) in writes {
                    if let value {
                        try db.execute(
                            "INSERT INTO pos_plugin_state (plugin, key, value) VALUES ($1, $2, $3) ON CONFLICT (plugin, key) DO UPDATE SET value = EXCLUDED.value",
                            [.text(plugin), .bytes(key), .bytes(value)])
                    } else {
                        try db.execute("DELETE FROM pos_plugin_state WHERE plugin = $1 AND key = $2", [.text(plugin), .bytes(key)])
                    }
                }
            }
        }
    }
}
