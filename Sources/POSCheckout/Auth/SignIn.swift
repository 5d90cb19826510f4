import HummingbirdBcrypt
import NIOPosix
import POSPlatform

/// An employee as the API shows them.
public struct Employee: Sendable, Equatable {
    public var id: Int
    public var code: String
    public var username: String
    public var name: String
    public var role: Role
}

/// Sign-in, sessions and approvals. Passwords are bcrypt hashes; tokens are stored as SHA-256;
/// a terminal has one session and an employee one terminal; failures are counted per user and
/// per address, and either reaching the limit within the window refuses further attempts.
public struct SignIn: Sendable {
    let database: Database
    let outbox: Outbox
    let config: ApiConfig

    public struct Session: Sendable {
        public let token: String
        public let employee: Employee
        public let terminalId: String
        public let loginTimeMilliseconds: Int64
        public let position: PublishedPosition?
    }

    /// Checked against when the username is unknown, so that costs what a real check costs.
    static let unknownUserHash = Bcrypt.hash(Tokens.make(), cost: 10)

    static let employeeColumns = "id, code, username, display_name, role"

    static func employee(_ rows: PostgresRows, _ row: Int) throws -> Employee {
        guard let role = Role(rawValue: try rows.required(row, 4)) else { throw CheckoutError(.internalError, "an employee has an unknown role") }
        return Employee(id: Int(rows.int(row, 0) ?? 0), code: try rows.required(row, 1), username: try rows.required(row, 2), name: try rows.required(row, 3), role: role)
    }

    public func login(username: String, password: String, terminalId requested: String?, address: String) async throws -> Session {
        guard !username.isEmpty, username.utf8.count <= 64, !username.containsControlCharacter else { throw CheckoutError.badInput("a username is 1 to 64 characters") }
        guard password.utf8.count <= 256 else { throw CheckoutError.badInput("a password is at most 256 bytes") }
        let terminalId = try requested.map(Validate.terminalId) ?? "WEB-" + String(Tokens.make().prefix(8))
        let subjects = ["user:" + username.lowercased(), "address:" + address]
        let limit = config.lockoutFailures, window = config.lockoutWindowSeconds
        let found = try await database.run { db -> (Employee, String)? in
            let failures = try db.execute(
                "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM api_login_failures WHERE subject = ANY($1::text[]) AND failed_at > now() - make_interval(secs => $2) GROUP BY subject) t",
                [.text(PostgresArrayLiteral.text(subjects)), .text(String(window))])
            if let count = failures.int(0, 0), count >= limit {
                throw CheckoutError(.rateLimited, "too many failed sign-ins; try again in \(window / 60) minutes or ask a manager")
            }
            let rows = try db.execute("SELECT \(Self.employeeColumns), password_hash FROM api_employees WHERE lower(username) = lower($1) AND active", [.text(username)])
            return rows.rows.isEmpty ? nil : (try Self.employee(rows, 0), try rows.required(0, 5))
        }
        // A constant-time comparison, and a hash check even for an unknown user, so timing does
        // not tell which usernames exist.
        let hash = found?.1 ?? Self.unknownUserHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard let employee = found?.0, matches else {
            try await database.run { db in
                try db.execute("INSERT INTO api_login_failures (subject) SELECT unnest($1::text[])", [.text(PostgresArrayLiteral.text(subjects))])
                try db.execute("DELETE FROM api_login_failures WHERE failed_at < now() - interval '1 day'")
            }
            throw CheckoutError(.unauthenticated, "wrong username or password")
        }
        let token = Tokens.make()
        let lifetime = config.tokenLifetimeSeconds
        let now = CheckoutClock.nowMilliseconds()
        let rows = try await database.transaction { db -> [Outbox.Row] in
            try db.execute("DELETE FROM api_login_failures WHERE subject = $1", [.text(subjects[0])])
            // Another employee's session on this terminal ends: the till now belongs to this one.
            let displaced = try db.execute(
                """
                UPDATE api_sessions SET revoked_at = now(), revoked_reason = 'terminal taken over'
                WHERE terminal_id = $1 AND employee_id <> $2 AND revoked_at IS NULL AND expires_at > now() RETURNING employee_id
                """, [.text(terminalId), .text(String(employee.id))])
            // This employee's sessions on other terminals end (employee_time_tracker emits their
            // SESSION_TERMINATED when it sees this login, so none is published here).
            try db.execute(
                "UPDATE api_sessions SET revoked_at = now(), revoked_reason = 'logged in elsewhere' WHERE employee_id = $1 AND terminal_id <> $2 AND revoked_at IS NULL",
                [.text(String(employee.id)), .text(terminalId)])
            try db.execute(
                "INSERT INTO api_sessions (token_hash, employee_id, terminal_id, expires_at) VALUES ($1::bytea, $2, $3, now() + make_interval(secs => $4))",
                [.bytes(Tokens.hash(token)), .text(String(employee.id)), .text(terminalId), .text(String(lifetime))])
            var events: [CheckoutEvent] = (0..<displaced.rows.count).compactMap { row in
                displaced.int(row, 0).map {
                    CheckoutEvent(type: "SESSION_TERMINATED", terminalId: terminalId, payload: [
                        "employee_id": .number(Double($0)), "terminal_id": .string(terminalId), "reason": .string("terminal_taken_over"),
                    ], at: now)
                }
            }
            events.append(CheckoutEvent(type: "EMPLOYEE_LOGIN", terminalId: terminalId, payload: [
                "employee_id": .number(Double(employee.id)), "terminal_id": .string(terminalId), "employee_code": .string(employee.code),
            ], at: now))
            return try Outbox.append(events, in: db)
        }
        let positions = await outbox.publish(rows)
        return Session(token: token, employee: employee, terminalId: terminalId, loginTimeMilliseconds: now, position: positions.last ?? nil)
    }

    /// The principal behind a bearer token; UNAUTHENTICATED when it is unknown, expired or revoked.
    public func authenticate(_ token: String?) async throws -> Principal {
        guard let token else { throw CheckoutError(.unauthenticated, "sign in first: no bearer token") }
        let hash = Tokens.hash(token)
        return try await database.run { db in
            let rows = try db.execute(
                """
                SELECT e.id, e.code, e.username, e.display_name, e.role, s.terminal_id, s.revoked_at IS NOT NULL, s.expires_at <= now(), s.revoked_reason
                FROM api_sessions s JOIN api_employees e ON e.id = s.employee_id WHERE s.token_hash = $1::bytea
                """, [.bytes(hash)])
            guard !rows.rows.isEmpty else { throw CheckoutError(.unauthenticated, "this token is not valid; sign in again") }
            if rows.bool(0, 6) == true { throw CheckoutError(.unauthenticated, "this session has ended (\(rows.text(0, 8) ?? "signed out")); sign in again") }
            if rows.bool(0, 7) == true { throw CheckoutError(.unauthenticated, "this session has expired; sign in again") }
            let employee = try Self.employee(rows, 0)
            return Principal(employeeId: employee.id, username: employee.username, role: employee.role, terminalId: try rows.required(0, 5), tokenHash: hash)
        }
    }

    /// Ends the session of `principal` (its token stops working) and publishes EMPLOYEE_LOGOUT.
    public func logout(_ principal: Principal, terminalId: String?) async throws -> PublishedPosition? {
        if let terminalId, terminalId != principal.terminalId {
            throw CheckoutError(.forbidden, "this session is on terminal \(principal.terminalId), not \(terminalId)")
        }
        let rows = try await database.transaction { db -> [Outbox.Row] in
            let ended = try db.execute(
                "UPDATE api_sessions SET revoked_at = now(), revoked_reason = 'signed out' WHERE token_hash = $1::bytea AND revoked_at IS NULL RETURNING 1",
                [.bytes(principal.tokenHash)])
            guard !ended.rows.isEmpty else { return [] }
            return try Outbox.append([
                CheckoutEvent(type: "EMPLOYEE_LOGOUT", terminalId: principal.terminalId, payload: [
                    "employee_id": .number(Double(principal.employeeId)), "terminal_id": .string(principal.terminalId),
                ])
            ], in: db)
        }
        return await outbox.publish(rows).last ?? nil
    }

    /// A manager (or admin) approving something by their own credentials, never the cashier's
    /// session: returns the approver, or throws FORBIDDEN / UNAUTHENTICATED. Failures count
    /// towards the approver's lockout like any sign-in.
    public func approver(username: String, password: String, for principal: Principal, action: String) async throws -> Employee {
        let subject = "user:" + username.lowercased()
        let limit = config.lockoutFailures, window = config.lockoutWindowSeconds
        let found = try await database.run { db -> (Employee, String)? in
            let failures = try db.execute(
                "SELECT count(*) FROM api_login_failures WHERE subject = $1 AND failed_at > now() - make_interval(secs => $2)", [.text(subject), .text(String(window))])
            if let count = failures.int(0, 0), count >= limit { throw CheckoutError(.rateLimited, "too many failed approvals for \(username)") }
            let rows = try db.execute("SELECT \(Self.employeeColumns), password_hash FROM api_employees WHERE lower(username) = lower($1) AND active", [.text(username)])
            return rows.rows.isEmpty ? nil : (try Self.employee(rows, 0), try rows.required(0, 5))
        }
        let hash = found?.1 ?? Self.unknownUserHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard let approver = found?.0, matches else {
            try await database.run { db in _ = try db.execute("INSERT INTO api_login_failures (subject) VALUES ($1)", [.text(subject)]) }
            throw CheckoutError(.unauthenticated, "the approver's username or password is wrong")
        }
        guard approver.role >= .manager else { throw CheckoutError(.forbidden, "\(action) needs a manager's approval; \(approver.username) is \(approver.role.rawValue)") }
        guard approver.id != principal.employeeId else { throw CheckoutError(.forbidden, "\(action) needs another employee's approval: nobody approves their own") }
        return approver
    }

    public func employees() async throws -> [Employee] {
        try await database.run { db in
            let rows = try db.execute("SELECT \(Self.employeeColumns) FROM api_employees WHERE active ORDER BY id")
            return try (0..<rows.rows.count).map { try Self.employee(rows, $0) }
        }
    }
}

/// Checks of client-supplied identifiers and numbers, each refused with a sentence.
enum Validate {
    static func terminalId(_ text: String) throws -> String {
        guard !text.isEmpty, text.utf8.count <= 64, !text.containsControlCharacter, !text.contains(" ") else {
            throw CheckoutError.badInput("a terminal id is 1 to 64 characters without spaces")
        }
        return text
    }

    static func basketId(_ text: String) throws -> String {
        guard !text.isEmpty, text.utf8.count <= 128, !text.containsControlCharacter else { throw CheckoutError.badInput("a basket id is 1 to 128 characters") }
        return text
    }

    static func quantity(_ value: Int) throws -> Int {
        guard (1...10_000).contains(value) else { throw CheckoutError.badInput("a quantity is a whole number from 1 to 10000, not \(value)") }
        return value
    }

    static func idempotencyKey(_ text: String) throws -> String {
        guard (8...128).contains(text.utf8.count), !text.containsControlCharacter else {
            throw CheckoutError.badInput("an idempotency key is 8 to 128 characters (a UUID is a good one)")
        }
        return text
    }
}
