import Foundation

/// Plugin configuration in PostgreSQL: the source of truth when a database is configured.
///
/// Precedence: a plugin's row (enabled, isolation, settings) overrides its `plugins.d/NAME.yaml`;
/// the YAML file still supplies everything else (library, pin, subscriptions, lanes,
/// supervision) and seeds the row the first time a host sees a plugin the database does not
/// know. Every change is one transaction: the row, an audit record, a new config version, and
/// a NOTIFY on `pos_plugin_config` that every host LISTENs to.
public final class PostgresConfigStore: Sendable {
    public static let channel = "pos_plugin_config"
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public struct Row: Sendable, Equatable {
        public var name: String
        public var enabled: Bool
        public var isolation: PluginIsolation
        public var settings: JSONValue
        public var version: Int64
        public var updatedBy: String
    }

    public func rows() throws -> [String: Row] {
        try pool.with { db in
            let result = try db.execute("SELECT name, enabled, isolation, settings::text, version, updated_by FROM pos_plugin_config")
            var rows: [String: Row] = [:]
            for index in result.rows.indices {
                let name = result.text(index, 0) ?? ""
                rows[name] = Row(
                    name: name, enabled: result.bool(index, 1) ?? false,
                    isolation: PluginIsolation(rawValue: result.text(index, 2) ?? "") ?? .process,
                    settings: (try? JSONValue.parse(result.text(index, 3) ?? "{}")) ?? .object([:]), version: result.int(index, 4) ?? 0,
                    updatedBy: result.text(index, 5) ?? "")
            }
            return rows
        }
    }

    /// The newest configuration version (0 before any).
    public func currentVersion() throws -> Int64 {
        try pool.with { db in try db.execute("SELECT coalesce(max(version), 0) FROM pos_plugin_config").int(0, 0) ?? 0 }
    }

    /// Changes a plugin's row in one transaction with its audit record and a NOTIFY; returns the
    /// new config version. `change` gets the current row (nil if none) and returns the new values.
    @discardableResult
    public func write(
        name: String, by author: String, seedOnly: Bool = false,
        _ change: (Row?) throws -> (enabled: Bool, isolation: PluginIsolation, settings: JSONValue)
    ) throws -> Int64 {
        try pool.with { db in
            try db.transaction { db in
                // Serialises writers of one plugin, including the first ones (FOR UPDATE locks
                // nothing while the row does not exist yet).
                try db.execute("SELECT pg_advisory_xact_lock(hashtext('pos_plugin_config:' || $1))", [.text(name)])
                let current = try db.execute(
                    "SELECT enabled, isolation, settings::text, version, updated_by FROM pos_plugin_config WHERE name = $1 FOR UPDATE", [.text(name)])
                var row: Row?
                if !current.rows.isEmpty {
                    if seedOnly { return current.int(0, 3) ?? 0 }
                    row = Row(
                        name: name, enabled: current.bool(0, 0) ?? false, isolation: PluginIsolation(rawValue: current.text(0, 1) ?? "") ?? .process,
                        settings: (try? JSONValue.parse(current.text(0, 2) ?? "{}")) ?? .object([:]), version: current.int(0, 3) ?? 0,
                        updatedBy: current.text(0, 4) ?? "")
                }
                let new = try change(row)
                let version = try db.execute("SELECT nextval('pos_config_version')").int(0, 0) ?? 0
                try db.execute(
                    """
                    INSERT INTO pos_plugin_config (name, enabled, isolation, settings, version, updated_at, updated_by)
                    VALUES ($1, $2, $3, $4::jsonb, $5, now(), $6)
                    ON CONFLICT (name) DO UPDATE SET enabled = EXCLUDED.enabled, isolation = EXCLUDED.isolation, settings = EXCLUDED.settings,
                        version = EXCLUDED.version, updated_at = now(), updated_by = EXCLUDED.updated_by
                    """,
                    [.text(name), .text(new.enabled ? "true" : "false"), .text(new.isolation.rawValue), .text(new.settings.jsonText), .text(String(version)), .text(author)])
                var audit: [String: JSONValue] = [
                    "enabled": .bool(new.enabled), "isolation": .string(new.isolation.rawValue), "settings": new.settings,
                ]
                if let row {
                    audit["previous"] = .object(["enabled": .bool(row.enabled), "isolation": .string(row.isolation.rawValue), "settings": row.settings])
                }
                try db.execute(
                    "INSERT INTO pos_plugin_config_audit (name, version, change, changed_by) VALUES ($1, $2, $3::jsonb, $4)",
                    [.text(name), .text(String(version)), .text(JSONValue.object(audit).jsonText), .text(author)])
                try db.execute("SELECT pg_notify($1, $2)", [.text(Self.channel), .text(String(version))])
                return version
            }
        }
    }

    /// Records that `host` runs configuration `version` (and is alive).
    public func recordApplied(host: String, version: Int64) throws {
        try pool.with { db in
            _ = try db.execute(
                """
                INSERT INTO pos_host_instances (host_id, applied_version, seen_at) VALUES ($1, $2, now())
                ON CONFLICT (host_id) DO UPDATE SET applied_version = greatest(pos_host_instances.applied_version, EXCLUDED.applied_version), seen_at = now()
                """, [.text(host), .text(String(version))])
        }
    }

    /// Hosts seen within `seconds`, with the configuration version each has applied.
    public func liveHosts(within seconds: Int = 30) throws -> [(host: String, applied: Int64)] {
        try pool.with { db in
            let rows = try db.execute(
                "SELECT host_id, applied_version FROM pos_host_instances WHERE seen_at > now() - make_interval(secs => $1) ORDER BY host_id",
                [.text(String(seconds))])
            return rows.rows.indices.map { (rows.text($0, 0) ?? "", rows.int($0, 1) ?? 0) }
        }
    }

    /// The audit trail of one plugin, oldest first.
    public func audit(name: String) throws -> [(version: Int64, change: JSONValue, by: String)] {
        try pool.with { db in
            let rows = try db.execute(
                "SELECT version, change::text, changed_by FROM pos_plugin_config_audit WHERE name = $1 ORDER BY id", [.text(name)])
            return rows.rows.indices.map { (rows.int($0, 0) ?? 0, (try? JSONValue.parse(rows.text($0, 1) ?? "{}")) ?? .null, rows.text($0, 2) ?? "") }
        }
    }
}
