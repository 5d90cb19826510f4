/// Applies numbered migrations to a database, each once. Safe with several processes starting
/// at once: each migration runs in a transaction holding an advisory lock, and skips what is
/// already recorded in the migrator's table. pos-host and pos-api each keep their own list and
/// table in the same database.
public struct PostgresMigrator: Sendable {
    /// A released migration is never edited: add a new one.
    public struct Migration: Sendable {
        public let version: Int
        public let sql: String
        public init(version: Int, sql: String) {
            self.version = version
            self.sql = sql
        }
    }

    /// Where applied versions are recorded.
    public let table: String
    /// The advisory lock key serialising this list's migrations (a decimal bigint).
    public let lockKey: String
    public let migrations: [Migration]

    public init(table: String, lockKey: String, migrations: [Migration]) {
        self.table = table
        self.lockKey = lockKey
        self.migrations = migrations
    }

    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to the latest version; returns the versions it applied.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) throws -> [Int] {
        var applied: [Int] = []
        for migration in migrations {
            try connection.transaction { db in
                try db.execute("SELECT pg_advisory_xact_lock($1::bigint)", [.text(lockKey)])
                try db.execute("CREATE TABLE IF NOT EXISTS \(table) (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                let done = try db.execute("SELECT 1 FROM \(table) WHERE version = $1", [.text(String(migration.version))])
                guard done.rows.isEmpty else { return }
                try db.executeScript(migration.sql)
                try db.execute("INSERT INTO \(table) (version) VALUES ($1)", [.text(String(migration.version))])
                applied.append(migration.version)
            }
        }
        return applied
    }
}
