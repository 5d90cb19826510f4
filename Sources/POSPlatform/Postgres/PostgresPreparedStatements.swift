import CLibPQ

/// The statements prepared on one connection: SQL text -> server-side name (ADR 22).
///
/// Why: the host and pos-api run the same few dozen statements thousands of times a second,
/// and PostgreSQL parsed and analysed each one every time (`base_yyparse` led the server's
/// profile, and the server was the busiest process). A statement with parameters is prepared
/// the first time a connection runs it and executed by name afterwards. Statements without
/// parameters (BEGIN, COMMIT, ROLLBACK, LISTEN, migrations) are cheap to parse and some must
/// run in an aborted transaction, so they are never prepared.
struct PreparedStatements {
    /// A connection holds at most this many (each costs the server memory for its plan); past
    /// it, new statements run unprepared. The code has far fewer distinct statements.
    static let limit = 200

    private(set) var names: [String: String] = [:]
    private var issued = 0

    /// The name a statement is (or would be) prepared under, nil when it is not to be prepared.
    func name(of sql: String, parameterCount: Int) -> String? {
        guard parameterCount > 0 else { return nil }
        return names[sql]
    }

    /// Whether a statement not prepared yet should be.
    func shouldPrepare(_ sql: String, parameterCount: Int) -> Bool {
        parameterCount > 0 && names[sql] == nil && names.count < Self.limit
    }

    /// A fresh name (never reused on this connection, so a failed prepare cannot collide).
    mutating func issueName() -> String {
        issued += 1
        return "pos_s\(issued)"
    }

    mutating func record(_ sql: String, as name: String) { names[sql] = name }

    mutating func forget(_ sql: String) { names[sql] = nil }

    /// The server forgot them (a new session) or may have (an unknown-statement error).
    mutating func forgetAll() { names.removeAll() }
}

extension PostgresError {
    /// A prepared statement the server no longer has (SQLSTATE 26000: DISCARD ALL, a pooler
    /// that swapped the session), or whose result columns changed under it since it was
    /// prepared (0A000 "cached plan must not change result type", after an ALTER TABLE).
    var isStalePreparedStatement: Bool {
        sqlState == "26000" || (sqlState == "0A000" && message.contains("cached plan"))
    }
}

extension PostgresConnection {
    /// Prepares `sql` (synchronously, one round trip the first time) when it should be; returns
    /// the name to execute it under, or nil to run it unprepared.
    func preparedName(for sql: String, parameterCount: Int, on connection: OpaquePointer) throws(PostgresError) -> String? {
        if let known = prepared.name(of: sql, parameterCount: parameterCount) { return known }
        guard prepared.shouldPrepare(sql, parameterCount: parameterCount) else { return nil }
        let name = prepared.issueName()
        let result = PQprepare(connection, name, sql, Int32(parameterCount), nil)
        defer { PQclear(result) }
        guard let result else { throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(connection))) }
        _ = try Self.rows(of: result, on: connection)
        prepared.record(sql, as: name)
        return name
    }

    /// After a stale-statement error: an unknown name means the session lost them all; a
    /// changed result shape concerns that statement only (it is prepared again next time).
    func forgetPrepared(after error: PostgresError, sql: String) {
        if error.sqlState == "26000" { prepared.forgetAll() } else { prepared.forget(sql) }
    }
}
