import Foundation
import Logging
import POSPlatform
import Testing

/// Statements with parameters are prepared once per connection (ADR 22): the same answers as
/// unprepared, in plain calls and in pipelines, and a session that lost or outgrew its
/// statements recovers instead of failing from then on.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PreparedStatementTests {
    private func connection() throws -> PostgresConnection {
        try PostgresConnection(conninfo: try TestDatabase.fresh("prep"), logger: Logger(label: "test"))
    }

    /// The names this session holds on the server, from PostgreSQL itself.
    private func serverStatements(_ db: PostgresConnection) throws -> [String] {
        try db.execute("SELECT statement FROM pg_prepared_statements ORDER BY name").rows.compactMap { $0[0] ?? nil }
    }

    @Test func aRepeatedStatementIsPreparedOnceAndAnswersAsBefore() throws {
        let db = try connection()
        for value in [1, 2, -7, 1_000_000] {
            #expect(try db.execute("SELECT $1::int + 1, $2::text", [.text(String(value)), .text("v\(value)")]).rows == [[String(value + 1), "v\(value)"]])
        }
        #expect(try db.execute("SELECT $1::bytea", [.bytes([0, 255, 10])]).bytes(0, 0) == [0, 255, 10])
        #expect(try db.execute("SELECT $1::text IS NULL", [.null]).bool(0, 0) == true)
        // Two statements, each prepared once, whatever the number of calls.
        #expect(try serverStatements(db) == ["SELECT $1::int + 1, $2::text", "SELECT $1::bytea", "SELECT $1::text IS NULL"])
        // Statements without parameters are not prepared (BEGIN, ROLLBACK in an aborted transaction).
        try db.transaction { db in _ = try db.execute("SELECT 1") }
        #expect(try serverStatements(db).count == 3)
        // Planned with each call's values, like unprepared statements (generic plans were slower).
        #expect(try db.execute("SHOW plan_cache_mode").text(0, 0) == "force_custom_plan")
    }

    @Test func aStatementThatCannotBePreparedFailsClearlyAndLeavesNothingBehind() throws {
        let db = try connection()
        #expect {
            try db.execute("SELEC $1::int", [.text("1")])
        } throws: { ($0 as? PostgresError)?.sqlState == "42601" }
        #expect {
            try db.execute("SELECT $1::int FROM no_such_table", [.text("1")])
        } throws: { ($0 as? PostgresError)?.sqlState == "42P01" }
        #expect(try serverStatements(db).isEmpty)
        // Created later, the table is found: a failed prepare was not remembered.
        try db.execute("CREATE TABLE no_such_table (a int)")
        try db.execute("INSERT INTO no_such_table VALUES ($1)", [.text("5")])
        #expect(try db.execute("SELECT $1::int FROM no_such_table", [.text("1")]).rows == [["1"]])
        // Inside a transaction the error aborts it, and the transaction rolls back as before.
        #expect(throws: PostgresError.self) {
            try db.transaction { db in
                try db.execute("INSERT INTO no_such_table VALUES ($1)", [.text("6")])
                try db.execute("SELECT $1::int FROM missing_too", [.text("1")])
            }
        }
        #expect(try db.execute("SELECT count(*) FROM no_such_table WHERE a > $1", [.text("0")]).rows == [["1"]])
    }

    @Test func aSessionThatLostItsStatementsPreparesThemAgain() throws {
        let db = try connection()
        #expect(try db.execute("SELECT $1::int * 2", [.text("21")]).rows == [["42"]])
        try db.execute("DEALLOCATE ALL")  // what a pooler's reset or DISCARD ALL does
        #expect(try serverStatements(db).isEmpty)
        // Outside a transaction the call recovers by itself.
        #expect(try db.execute("SELECT $1::int * 2", [.text("4")]).rows == [["8"]])
        #expect(try serverStatements(db) == ["SELECT $1::int * 2"])
        // Inside one it fails (the transaction is aborted), and the next transaction works.
        try db.execute("DEALLOCATE ALL")
        #expect {
            try db.transaction { db in _ = try db.execute("SELECT $1::int * 2", [.text("1")]) }
        } throws: { ($0 as? PostgresError)?.sqlState == "26000" }
        #expect(try db.transaction { db in try db.execute("SELECT $1::int * 2", [.text("5")]) }.rows == [["10"]])
        // And in a pipeline, the same.
        try db.execute("DEALLOCATE ALL")
        #expect(throws: PostgresError.self) { try db.pipelinedTransaction([PostgresStatement("SELECT $1::int * 2", [.text("1")])]) }
        #expect(try db.pipelinedTransaction([PostgresStatement("SELECT $1::int * 2", [.text("6")])]).map(\.rows) == [[["12"]]])
    }

    @Test func aTableWhoseColumnsChangedIsReadWithItsNewShape() throws {
        let db = try connection()
        try db.execute("CREATE TABLE shape (a int)")
        try db.execute("INSERT INTO shape VALUES (1)")
        #expect(try db.execute("SELECT * FROM shape WHERE a = $1", [.text("1")]).rows == [["1"]])
        try db.execute("ALTER TABLE shape ADD COLUMN b text DEFAULT 'x'")
        #expect(try db.execute("SELECT * FROM shape WHERE a = $1", [.text("1")]).rows == [["1", "x"]])
        // It was prepared again (PostgreSQL refused the old one with "cached plan must not change
        // result type"); the stale one stays on the server until the session ends.
        #expect(try serverStatements(db) == ["SELECT * FROM shape WHERE a = $1", "SELECT * FROM shape WHERE a = $1"])
    }

    @Test func pipelinesPrepareOnceAndAFailedOneLeavesTheSessionUsable() throws {
        let db = try connection()
        try db.execute("CREATE TABLE piped (k text PRIMARY KEY, v int)")
        let insert = "INSERT INTO piped (k, v) VALUES ($1, $2) RETURNING v"
        // The same new statement twice in one pipeline: prepared once, both run.
        let first = try db.pipelinedTransaction([PostgresStatement(insert, [.text("a"), .text("1")]), PostgresStatement(insert, [.text("b"), .text("2")])])
        #expect(first.map(\.rows) == [[["1"]], [["2"]]])
        #expect(try serverStatements(db) == [insert])
        // A pipeline that fails (duplicate key) after preparing a new statement: all rolled back,
        // and what it prepared is either known or absent, never a name that collides later.
        let update = "UPDATE piped SET v = v + $2 WHERE k = $1"
        #expect {
            try db.pipelinedTransaction([PostgresStatement(update, [.text("a"), .text("10")]), PostgresStatement(insert, [.text("a"), .text("3")])])
        } throws: { ($0 as? PostgresError)?.sqlState == "23505" }
        #expect(try db.execute("SELECT v FROM piped WHERE k = $1", [.text("a")]).rows == [["1"]])
        let again = try db.pipelinedTransaction([PostgresStatement(update, [.text("a"), .text("10")]), PostgresStatement(insert, [.text("c"), .text("3")])])
        #expect(again.map(\.rows) == [[], [["3"]]])
        #expect(try db.execute("SELECT v FROM piped WHERE k = $1", [.text("a")]).rows == [["11"]])
        #expect(Set(try serverStatements(db)) == [insert, update, "SELECT v FROM piped WHERE k = $1"])
        // A statement the server refuses to prepare fails its pipeline with the server's error.
        #expect {
            try db.pipelinedTransaction([PostgresStatement(update, [.text("b"), .text("1")]), PostgresStatement("UPDATE nowhere SET v = $1", [.text("1")])])
        } throws: { ($0 as? PostgresError)?.sqlState == "42P01" }
        #expect(try db.execute("SELECT v FROM piped WHERE k = $1", [.text("b")]).rows == [["2"]])
    }

    @Test func pastTheLimitStatementsRunUnprepared() throws {
        let db = try connection()
        for index in 0..<230 {
            #expect(try db.execute("SELECT $1::int + \(index)", [.text("1")]).rows == [[String(index + 1)]])
        }
        #expect(try serverStatements(db).count == 200)
    }
}
