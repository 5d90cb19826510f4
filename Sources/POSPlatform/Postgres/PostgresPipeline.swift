import CLibPQ

/// One statement of a pipelined transaction: SQL with parameters ($1, $2, ...).
public struct PostgresStatement: Sendable {
    public var sql: String
    public var parameters: [PostgresValue]

    public init(_ sql: String, _ parameters: [PostgresValue] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}

extension PostgresConnection {
    /// Runs `statements` as one transaction in one round trip (libpq's pipeline mode): BEGIN,
    /// the statements and COMMIT are sent together and their results read afterwards. The
    /// statements must not depend on each other's results in the client; a statement that must
    /// stop the transaction raises an error, which aborts the rest (the server skips them) and
    /// rolls everything back. Returns each statement's rows; throws the first error.
    ///
    /// Why: a batch commit was eight statements, each a round trip while the plugin's next batch
    /// waited (ADR 21).
    public func pipelinedTransaction(_ statements: [PostgresStatement]) throws(PostgresError) -> [PostgresRows] {
        guard let connection else { throw PostgresError(sqlState: nil, message: "not connected") }
        guard PQenterPipelineMode(connection) == 1 else {
            throw PostgresError(sqlState: nil, message: "cannot enter pipeline mode: \(String(cString: PQerrorMessage(connection)))")
        }
        let all = [PostgresStatement("BEGIN")] + statements + [PostgresStatement("COMMIT")]
        var sendFailure: PostgresError?
        // What each result read back belongs to: a statement, or the prepare sent before one
        // (ADR 22; recorded as prepared only once the server says it is).
        var slots: [PipelineSlot] = []
        var preparing: [String: String] = [:]
        for statement in all {
            let count = statement.parameters.count
            var name = prepared.name(of: statement.sql, parameterCount: count) ?? preparing[statement.sql]
            if name == nil, prepared.shouldPrepare(statement.sql, parameterCount: count) {
                let fresh = prepared.issueName()
                guard PQsendPrepare(connection, fresh, statement.sql, Int32(count), nil) == 1 else {
                    sendFailure = PostgresError(sqlState: nil, message: "sending a pipelined prepare failed: \(String(cString: PQerrorMessage(connection)))")
                    break
                }
                slots.append(.prepare(sql: statement.sql, name: fresh))
                preparing[statement.sql] = fresh
                name = fresh
            }
            let texts: [[CChar]?] = statement.parameters.map { value in
                if case .text(let text) = value { return Array(text.utf8CString) }
                return nil
            }
            let accepted = withParameterPointers(statement.parameters, texts) { values, lengths, formats in
                if let name { return PQsendQueryPrepared(connection, name, Int32(count), values, lengths, formats, 0) }
                return PQsendQueryParams(connection, statement.sql, Int32(count), nil, values, lengths, formats, 0)
            }
            guard accepted == 1 else {
                sendFailure = PostgresError(sqlState: nil, message: "sending a pipelined statement failed: \(String(cString: PQerrorMessage(connection)))")
                break
            }
            slots.append(.statement(sql: statement.sql, name: name))
        }
        if PQpipelineSync(connection) != 1, sendFailure == nil {
            sendFailure = PostgresError(sqlState: nil, message: "pipeline sync failed: \(String(cString: PQerrorMessage(connection)))")
        }
        // Read every result of what was sent, up to the sync, before anything else is sent.
        var rows: [PostgresRows] = []
        var firstError: PostgresError?
        for slot in slots {
            var statementRows = PostgresRows(rows: [])
            var succeeded = false
            while let result = PQgetResult(connection) {
                defer { PQclear(result) }
                switch PQresultStatus(result) {
                case PGRES_PIPELINE_ABORTED:
                    if firstError == nil { firstError = PostgresError(sqlState: nil, message: "pipelined statement skipped after an earlier failure") }
                default:
                    do throws(PostgresError) {
                        statementRows = try Self.rows(of: result, on: connection)
                        succeeded = true
                    } catch {
                        if case .statement(let sql, let name?) = slot, error.isStalePreparedStatement, prepared.names[sql] == name {
                            forgetPrepared(after: error, sql: sql)
                        }
                        if firstError == nil || firstError?.sqlState == nil { firstError = error }
                    }
                }
            }
            switch slot {
            case .prepare(let sql, let name): if succeeded { prepared.record(sql, as: name) }
            case .statement: rows.append(statementRows)
            }
        }
        var synced = false
        while let result = PQgetResult(connection) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC {
                synced = true
                break
            }
        }
        _ = PQexitPipelineMode(connection)
        if let failure = sendFailure ?? firstError ?? (synced ? nil : PostgresError(sqlState: nil, message: "pipeline ended without its sync: \(String(cString: PQerrorMessage(connection)))")) {
            // An explicit transaction that failed stays open (aborted) after the sync.
            if PQtransactionStatus(connection) != PQTRANS_IDLE { _ = try? execute("ROLLBACK") }
            throw failure
        }
        return Array(rows.dropFirst().dropLast())
    }
}

/// A result a pipeline reads back: a statement's, or that of the prepare sent before it.
private enum PipelineSlot {
    case prepare(sql: String, name: String)
    /// A statement and the prepared name it ran under (nil: unprepared).
    case statement(sql: String, name: String?)
}
