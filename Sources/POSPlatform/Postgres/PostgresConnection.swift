import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A failed database operation, with PostgreSQL's SQLSTATE when it gave one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public var sqlState: String?
    public var message: String
    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
    /// The connection itself failed (retry after reconnecting), as opposed to the statement.
    public var isConnectionFailure: Bool { sqlState == nil || sqlState!.hasPrefix("08") || sqlState == "57P01" }
}

/// A parameter of a statement: text, or bytes sent in binary format (bytea).
public enum PostgresValue: Sendable {
    case text(String)
    case bytes([UInt8])
    case null
}

/// Rows of a result, every column as text (bytea decoded from its hex form by `bytes`).
public struct PostgresRows: Sendable {
    public var rows: [[String?]]

    public func text(_ row: Int, _ column: Int) -> String? { rows[row][column] }
    public func int(_ row: Int, _ column: Int) -> Int64? { rows[row][column].flatMap { Int64($0) } }
    public func bool(_ row: Int, _ column: Int) -> Bool? { rows[row][column].map { $0 == "t" } }

    /// A bytea column, from PostgreSQL's `\x<hex>` text form.
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard let text = rows[row][column] else { return nil }
        let hex = Array(text.utf8.dropFirst(2))
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        var index = 0
        while index + 1 < hex.count {
            bytes.append(nibble(hex[index]) << 4 | nibble(hex[index + 1]))
            index += 2
        }
        return bytes
    }
}

/// One libpq connection. Not thread-safe: its owner serialises use (see ``PostgresPool``).
///
/// libpq is used directly (through `.systemLibrary`): the PostgreSQL clients among the packages
/// available here need SwiftNIO's event loops, while every caller here is a blocking thread
/// (dispatcher lanes, the control socket) and LISTEN needs only `poll` on the socket.
public final class PostgresConnection {
    public let conninfo: String
    /// The libpq handle (nil when not connected); internal for ``pipelinedTransaction(_:)``.
    var connection: OpaquePointer?
    /// What this session has prepared (cleared on reconnect: a new session has none).
    var prepared = PreparedStatements()
    public let logger: Logger
    private let noticeSink: NoticeSink

    public final class NoticeSink {
        public let logger: Logger
        public init(logger: Logger) { self.logger = logger }
    }

    public init(conninfo: String, logger: Logger) throws(PostgresError) {
        self.conninfo = conninfo
        self.logger = logger
        self.noticeSink = NoticeSink(logger: logger)
        try connect()
    }

    private func connect() throws(PostgresError) {
        if let connection { PQfinish(connection) }
        prepared.forgetAll()
        // connect_timeout bounds a dead server; application_name shows us in pg_stat_activity.
        let info = conninfo + " connect_timeout=5 application_name=pos-host"
        connection = PQconnectdb(info)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw PostgresError(sqlState: nil, message: "cannot connect to PostgreSQL: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        // Without a processor libpq prints NOTICEs on stderr.
        PQsetNoticeProcessor(
            connection,
            { context, message in
                guard let context, let message else { return }
                let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
                sink.logger.debug("postgres: \(String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines))")
            }, Unmanaged.passUnretained(noticeSink).toOpaque())
        // Prepared statements are planned with each call's values, as unprepared ones were:
        // PostgreSQL's generic plans halved the e2e rate (ADR 22).
        try executeScript("SET plan_cache_mode = force_custom_plan")
    }

    public var isHealthy: Bool { connection.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Reconnects if the connection broke.
    public func ensureConnected() throws(PostgresError) {
        if !isHealthy { try connect() }
    }

    /// Runs one statement with parameters ($1, $2, ...); returns its rows (text format).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError) -> PostgresRows {
        do {
            return try run(sql, parameters)
        } catch let error where error.isStalePreparedStatement && connection.map({ PQtransactionStatus($0) == PQTRANS_IDLE }) ?? false {
            // Outside a transaction nothing was done: prepare afresh and run it once more.
            return try run(sql, parameters)
        }
    }

    private func run(_ sql: String, _ parameters: [PostgresValue]) throws(PostgresError) -> PostgresRows {
        guard let connection else { throw PostgresError(sqlState: nil, message: "not connected") }
        let texts: [[CChar]?] = parameters.map { value in
            if case .text(let text) = value { return Array(text.utf8CString) }
            return nil
        }
        let name = try preparedName(for: sql, parameterCount: parameters.count, on: connection)
        let result: OpaquePointer? = withParameterPointers(parameters, texts) { values, lengths, formats in
            if let name { return PQexecPrepared(connection, name, Int32(parameters.count), values, lengths, formats, 0) }
            return PQexecParams(connection, sql, Int32(parameters.count), nil, values, lengths, formats, 0)
        }
        defer { PQclear(result) }
        guard let result else { throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(connection))) }
        do {
            return try Self.rows(of: result, on: connection)
        } catch {
            guard name != nil, error.isStalePreparedStatement else { throw error }
            forgetPrepared(after: error, sql: sql)
            throw error
        }
    }

    /// The rows of a successful result, or its error.
    static func rows(of result: OpaquePointer, on connection: OpaquePointer) throws(PostgresError) -> PostgresRows {
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            var rows: [[String?]] = []
            let count = PQntuples(result), columns = PQnfields(result)
            rows.reserveCapacity(Int(count))
            for row in 0..<count {
                rows.append((0..<columns).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
            }
            return PostgresRows(rows: rows)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw PostgresError(sqlState: state, message: message.isEmpty ? String(cString: PQerrorMessage(connection)) : message)
        }
    }

    /// Runs SQL text that may hold several statements, without parameters (migrations).
    public func executeScript(_ sql: String) throws(PostgresError) {
        guard let connection else { throw PostgresError(sqlState: nil, message: "not connected") }
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        guard let result else { throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(connection))) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(sqlState: state, message: String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    func withParameterPointers<R>(
        _ parameters: [PostgresValue], _ texts: [[CChar]?],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
    ) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var keep: [UnsafeMutableRawPointer] = []
        defer { keep.forEach { $0.deallocate() } }
        for (index, value) in parameters.enumerated() {
            switch value {
            case .null:
                pointers.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text:
                let chars = texts[index]!
                let copy = UnsafeMutablePointer<CChar>.allocate(capacity: chars.count)
                copy.initialize(from: chars, count: chars.count)
                keep.append(UnsafeMutableRawPointer(copy))
                pointers.append(UnsafePointer(copy))
                lengths.append(Int32(chars.count - 1))
                formats.append(0)
            case .bytes(let bytes):
                let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
                copy.initialize(from: bytes, count: bytes.count)
                keep.append(UnsafeMutableRawPointer(copy))
                pointers.append(UnsafeRawPointer(copy).assumingMemoryBound(to: CChar.self))
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        return pointers.withUnsafeBufferPointer { p in
            lengths.withUnsafeBufferPointer { l in formats.withUnsafeBufferPointer { f in body(p.baseAddress, l.baseAddress, f.baseAddress) } }
        }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    public func transaction<R>(_ body: (PostgresConnection) throws -> R) throws -> R {
        try execute("BEGIN")
        do {
            let result = try body(self)
            try execute("COMMIT")
            return result
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// Waits up to `timeoutMilliseconds` for notifications on channels this connection LISTENs to.
    public func notifications(timeoutMilliseconds: Int32) throws(PostgresError) -> [(channel: String, payload: String)] {
        guard let connection else { throw PostgresError(sqlState: nil, message: "not connected") }
        var found = drainNotifications()
        if !found.isEmpty { return found }
        var poller = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { throw PostgresError(sqlState: nil, message: "poll failed: \(String(cString: strerror(errno)))") }
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(sqlState: nil, message: "connection lost: \(String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        found = drainNotifications()
        return found
    }

    private func drainNotifications() -> [(channel: String, payload: String)] {
        var found: [(String, String)] = []
        while let notification = PQnotifies(connection) {
            found.append((String(cString: notification.pointee.relname), String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return found
    }

    deinit { if let connection { PQfinish(connection) } }
}

/// A few connections shared by threads: each call borrows one for its duration.
public final class PostgresPool: @unchecked Sendable {
    // @unchecked: `idle` is guarded by `condition`; a borrowed connection is used by one thread.
    public let conninfo: String
    public let logger: Logger
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var created = 0
    private let size: Int

    public init(conninfo: String, size: Int = 4, logger: Logger) throws(PostgresError) {
        self.conninfo = conninfo
        self.size = max(1, size)
        self.logger = logger
        idle.append(try PostgresConnection(conninfo: conninfo, logger: logger))
        created = 1
    }

    /// Runs `body` with a connection, reconnecting a broken one first; retries once on a
    /// connection failure (the statement never reached a live server).
    public func with<R>(_ body: (PostgresConnection) throws -> R) throws -> R {
        let connection = try borrow()
        defer { giveBack(connection) }
        do {
            try connection.ensureConnected()
            return try body(connection)
        } catch let error as PostgresError where error.isConnectionFailure && !connection.isHealthy {
            try connection.ensureConnected()
            return try body(connection)
        }
    }

    /// An idle connection, a new one while fewer than `size` exist, else waits for one.
    private func borrow() throws -> PostgresConnection {
        condition.lock()
        while idle.isEmpty && created >= size { condition.wait() }
        if let connection = idle.popLast() {
            condition.unlock()
            return connection
        }
        created += 1
        condition.unlock()
        do {
            return try PostgresConnection(conninfo: conninfo, logger: logger)
        } catch {
            condition.lock()
            created -= 1
            condition.signal()
            condition.unlock()
            throw error
        }
    }

    private func giveBack(_ connection: PostgresConnection) {
        condition.lock()
        idle.append(connection)
        condition.signal()
        condition.unlock()
    }
}
