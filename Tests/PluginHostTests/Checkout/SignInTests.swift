import Foundation
import Testing

@testable import POSCheckout
@testable import PluginHost

/// Sign-in against a pos-api of its own (its own database, so its lockouts touch no other test).
@Suite(.serialized, .timeLimit(.minutes(10))) struct SignInTests {
    @Test func repeatedFailuresLockOutAndExpiredOrRevokedTokensAreRefused() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 1)])
        defer { cluster.close() }
        let database = try TestDatabase.fresh("signin")
        let api = try ApiProcess(label: "signin-api", database: database, bootstrap: cluster.bootstrapServers, hostSockets: [], extraApi: "  lockout_failures: 3\n")
        try api.start()
        defer { api.stop() }
        let client = GraphQLClient(url: api.url)
        let login = "mutation($u: String!, $p: String!) { login(username: $u, password: $p, terminalId: \"T1\") { token } }"

        // Unknown users and wrong passwords get the same answer.
        let unknown = try await client.send(login, ["u": .string("nobody"), "p": .string("x")])
        let wrong = try await client.send(login, ["u": .string("jane"), "p": .string("wrong")])
        #expect(unknown.code == "UNAUTHENTICATED" && wrong.code == "UNAUTHENTICATED" && unknown.message == wrong.message)
        _ = try await client.send(login, ["u": .string("jane"), "p": .string("wrong")])
        _ = try await client.send(login, ["u": .string("jane"), "p": .string("wrong")])
        // Three failures for jane: even her right password is refused now.
        let locked = try await client.send(login, ["u": .string("jane"), "p": .string("password123")])
        #expect(locked.code == "RATE_LIMITED")

        let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
        try db.execute("DELETE FROM api_login_failures")
        let signedIn = try await client.signedIn("john", "password123", terminal: "T1")
        #expect(try await signedIn.send("{ me { username } }").data?["me"]?["username"] == .string("john"))
        // Only the token's hash is stored.
        let stored = try db.execute("SELECT count(*) FROM api_sessions WHERE token_hash = $1::bytea", [.bytes(Tokens.hash(signedIn.token ?? ""))]).int(0, 0)
        #expect(stored == 1)
        #expect(try db.execute("SELECT count(*) FROM api_sessions WHERE position($1::bytea in token_hash) > 0", [.bytes(Array((signedIn.token ?? "").utf8))]).int(0, 0) == 0)
        try db.execute("UPDATE api_sessions SET expires_at = now() - interval '1 second'")
        let expired = try await signedIn.send("{ me { username } }")
        #expect(expired.code == "UNAUTHENTICATED" && expired.message.contains("expired"))

        // Seeding again changes nothing and keeps the password hashes.
        let hashes = try db.execute("SELECT password_hash FROM api_employees ORDER BY id").rows
        let again = try TestSupport.capture(TestSupport.product("pos-api"), ["seed", "--config", api.directory + "/config.yaml", "--bcrypt-cost", "4"])
        #expect(again.status == 0)
        #expect(try db.execute("SELECT password_hash FROM api_employees ORDER BY id").rows == hashes)
        #expect(try db.execute("SELECT count(*) FROM api_products").int(0, 0) == 19)
    }

    /// Without any pos-host (both plugins fail open here), payments still work; a claim left
    /// PENDING by a request that died is taken over; the customer directory answers only its
    /// configured clients.
    @Test func abandonedClaimsAreTakenOverAndTheDirectoryIsNotPublic() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 1)])
        defer { cluster.close() }
        let database = try TestDatabase.fresh("claims")
        let api = try ApiProcess(
            label: "claims-api", database: database, bootstrap: cluster.bootstrapServers, hostSockets: [],
            extraApi: "  fail_open: {age_verification: true, fraud_detection: true}\n  directory_clients: [\"10.9.9.9\"]\n")
        try api.start()
        defer { api.stop() }
        let till = try await GraphQLClient(url: api.url).signedIn("john", "password123", terminal: "T1")
        let basket = try await till.send("mutation { startBasket { basketId } }").field("startBasket")["basketId"]?.stringValue ?? ""
        _ = try await till.send("mutation($b: String!) { addItem(basketId: $b, productId: \"COKE\") { success } }", ["b": .string(basket)])
        let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
        try db.execute(
            "INSERT INTO api_payments (basket_id, idempotency_key, status, employee_id, total_cents, created_at) VALUES ($1, 'dead-request-key', 'PENDING', 1, 199, now() - interval '2 minutes')",
            [.text(basket)])
        let paid = try await till.send(
            "mutation($b: String!) { processPayment(basketId: $b, paymentMethod: \"CASH\", idempotencyKey: \"live-request-key\") { success fraudDecision } }", ["b": .string(basket)])
        #expect(paid.data?["processPayment"]?["success"] == .bool(true), "\(paid.body.jsonText)")
        #expect(paid.data?["processPayment"]?["fraudDecision"] == .null, "no fraud decision: failed open")
        #expect(try db.execute("SELECT idempotency_key FROM api_payments WHERE basket_id = $1", [.text(basket)]).text(0, 0) == "live-request-key")
        let (status, _) = try await till.raw([], method: "GET", path: "/customers/%2B1234567890/")
        #expect(status == 403)
    }

    /// A change committed whose event was never published (pos-api killed between commit and
    /// publish) is published by the next pos-api's sweeper, with its own event id.
    @Test func anEventLeftInTheOutboxIsPublishedByTheNextInstance() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 1)])
        defer { cluster.close() }
        let database = try TestDatabase.fresh("sweeper")
        let api = try ApiProcess(label: "sweeper-api", database: database, bootstrap: cluster.bootstrapServers, hostSockets: [])
        let db = try PostgresConnection(conninfo: database, logger: TestSupport.quietLogger)
        try CheckoutSchema.migrator.migrate(db)
        let event = CheckoutEvent(type: "BASKET_CLOSED", terminalId: "T9", correlationId: "basket_left", payload: ["basket_id": .string("basket_left")])
        _ = try Outbox.append([event], in: db)
        try db.execute("UPDATE api_outbox SET created_at = now() - interval '1 minute'")
        try api.start()
        defer { api.stop() }
        let messages = try KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events", atLeast: 1)
        #expect(messages.contains { $0.headers["pos.id"] == Array(event.id.utf8) })
        #expect(TestSupport.eventually(within: 10) {
            (try? db.execute("SELECT count(*) FROM api_outbox WHERE NOT published").int(0, 0)) == 0
        })
    }
}
