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
        var sent = 0
        for statement in all {
            let texts: [[CChar]?] = statement.parameters.map { value in
                if case .text(let text) = value { return Array(text.utf8CString) }
                return nil
            }
            let accepted = withParameterPointers(statement.parameters, texts) { values, lengths, formats in
                PQsendQueryParams(connection, statement.sql, Int32(statement.parameters.count), nil, values, lengths, formats, 0)
            }
            guard accepted == 1 else {
                sendFailure = PostgresError(sqlState: nil, message: "sending a pipelined statement failed: \(String(cString: PQerrorMessage(connection)))")
                break
            }
            sent += 1
        }
        if PQpipelineSync(connection) != 1, sendFailure == nil {
            sendFailure = PostgresError(sqlState: nil, message: "pipeline sync failed: \(String(cString: PQerrorMessage(connection)))")
        }
        // Read every result of what was sent, up to the sync, before anything else is sent.
        var rows: [PostgresRows] = []
        var firstError: PostgresError?
        for _ in 0..<sent {
            var statementRows = PostgresRows(rows: [])
            while let result = PQgetResult(connection) {
                defer { PQclear(result) }
                switch PQresultStatus(result) {
                case PGRES_PIPELINE_ABORTED:
                    if firstError == nil { firstError = PostgresError(sqlState: nil, message: "pipelined statement skipped after an earlier failure") }
                default:
                    do throws(PostgresError) {
                        statementRows = try Self.rows(of: result, on: connection)
                    } catch {
                        if firstError == nil || firstError?.sqlState == nil { firstError = error }
                    }
                }
            }
            rows.append(statementRows)
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
