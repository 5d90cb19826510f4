import Foundation
import Synchronization
import Testing

@testable import PluginHost

/// customer_lookup against a real local HTTP server: found, cached, slow, failing, not found.
@Suite(.serialized) struct CustomerLookupTests {
    static let john = #"{"customer_id": "CUST_001", "first_name": "John", "last_name": "Doe", "tier": "GOLD", "loyalty_points": 1250}"#

    /// The directory: +1234567890 is John; "slow" answers after 1.5 s; "fail" with 500 unless healed.
    final class Switch: Sendable {
        let on = Atomic<Bool>(false)
    }

    final class Directory: Sendable {
        let healed = Switch()
        let server: TestHTTPServer
        init() throws {
            let healed = self.healed
            server = try TestHTTPServer { path in
                switch path {
                case "/customers/%2B1234567890/", "/customers/john%40example.com/", "/customers/CARD_123456/":
                    return .init(status: 200, body: CustomerLookupTests.john)
                case "/customers/%2B15550000001/": return .init(status: 200, body: CustomerLookupTests.john, delayMilliseconds: 1_500)
                case "/customers/%2B15550000002/":
                    return healed.on.load(ordering: .relaxed) ? .init(status: 200, body: CustomerLookupTests.john) : .init(status: 500, body: "{}")
                default: return .init(status: 404, body: #"{"error": "not found"}"#)
                }
            }
        }
    }

    func plugin(_ directory: Directory, _ extra: [String: JSONValue] = [:]) throws -> PluginHarness {
        try PluginHarness(
            "customer_lookup",
            settings: .object(["api_endpoint": .string(directory.server.endpoint), "timeout_ms": .number(300), "retry_attempts": .number(2), "retry_backoff_ms": .number(10)].merging(extra) { $1 }))
    }

    @discardableResult
    func identify(_ plugin: PluginHarness, _ basket: String, _ identifier: String, at second: Double) -> HandleOutcome {
        plugin.send("BASKET_STARTED", at: second, ["basket_id": .string(basket), "terminal_id": .string("T1"), "customer_identifier": .string(identifier)])
    }

    func lookups(_ plugin: PluginHarness) throws -> [JSONValue] { try plugin.query("lookups").arrayValue ?? [] }

    @Test func identifiersAreNormalisedAndProfilesPublishedThenCached() throws {
        let directory = try Directory()
        let plugin = try plugin(directory)
        #expect(identify(plugin, "b1", " +1 (234) 567-890 ", at: 0) == .handled)
        let fetched = try #require(plugin.emitted("CUSTOMER_DATA_FETCHED").first)
        #expect(fetched["customer"]?["customer_id"] == .string("CUST_001") && fetched["source"] == .string("directory"))
        identify(plugin, "b2", "John@Example.COM", at: 10)
        identify(plugin, "b3", "card_123456", at: 20)
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").count == 3)
        // Within the TTL (event time) the cache answers; after it, the directory again.
        identify(plugin, "b4", "+1234567890", at: 30)
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").last?["source"] == .string("cache"))
        #expect(directory.server.requests("/customers/%2B1234567890/") == 1)
        identify(plugin, "b5", "+1234567890", at: 3_700)
        #expect(directory.server.requests("/customers/%2B1234567890/") == 2)
        let audit = try lookups(plugin)
        #expect(audit.compactMap { $0["status"]?.stringValue } == ["SUCCESS", "SUCCESS", "SUCCESS", "CACHE_HIT", "SUCCESS"])
        #expect(audit.map { $0["identifier_kind"]?.stringValue ?? "" } == ["phone", "email", "loyalty_card", "phone", "phone"])
        #expect(identify(plugin, "b6", "not an identifier!", at: 40) == .reject("'not an identifier!' is neither a phone number, an email address nor a loyalty card"))
    }

    /// Some servers (Hummingbird, so pos-api's own directory) keep even an HTTP/1.0 connection
    /// open after the response: its Content-Length ends the read, not the close.
    @Test func aDirectoryThatKeepsTheConnectionOpenAnswersAtOnce() throws {
        let server = try TestHTTPServer { _ in .init(status: 200, body: CustomerLookupTests.john, holdOpenMilliseconds: 3_000) }
        let plugin = try PluginHarness(
            "customer_lookup", settings: .object(["api_endpoint": .string(server.endpoint), "timeout_ms": .number(1000), "retry_attempts": .number(0)]))
        let started = Date()
        identify(plugin, "b1", "+1234567890", at: 0)
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").first?["customer"]?["customer_id"] == .string("CUST_001"))
        #expect(Date().timeIntervalSince(started) < 1, "read to the Content-Length, not to the close")
    }

    @Test func slowFailingAndMissingDirectoryAnswers() throws {
        let directory = try Directory()
        let plugin = try plugin(directory, ["circuit_breaker_seconds": .number(0)])
        identify(plugin, "b1", "+15550000001", at: 0)  // slower than the 300 ms timeout, three attempts
        identify(plugin, "b2", "+15550000099", at: 1)  // 404: one attempt, no profile
        identify(plugin, "b3", "+15550000002", at: 2)  // 500 three times
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").isEmpty)
        let audit = try lookups(plugin)
        #expect(audit.compactMap { $0["status"]?.stringValue } == ["TIMEOUT", "NOT_FOUND", "FAILED"])
        #expect(audit.compactMap { $0["attempts"]?.numberValue } == [3, 1, 3])
        #expect(directory.server.requests("/customers/%2B15550000002/") == 3)
        #expect(audit.allSatisfy { $0["duration_ms"] == nil })  // wall-clock stays out of replayable state

        // Once it answered, a later failure falls back to the stale entry.
        directory.healed.on.store(true, ordering: .relaxed)
        identify(plugin, "b4", "+15550000002", at: 10)
        directory.healed.on.store(false, ordering: .relaxed)
        identify(plugin, "b5", "+15550000002", at: 10 + 7_200)  // past the TTL, directory failing
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").last?["source"] == .string("stale_cache"))
        #expect(try lookups(plugin).last?["status"] == .string("FAILED"))
        let strict = try self.plugin(directory, ["fallback_to_cache_on_error": .bool(false), "circuit_breaker_seconds": .number(0)])
        identify(strict, "c1", "+15550000002", at: 0)
        #expect(strict.emitted("CUSTOMER_DATA_FETCHED").isEmpty)
    }

    @Test func aDirectoryThatJustFailedIsNotAskedAgainForAWhile() throws {
        let directory = try Directory()
        let plugin = try plugin(directory, ["circuit_breaker_seconds": .number(2)])
        identify(plugin, "b1", "+15550000002", at: 0)  // 500 three times: the breaker opens
        identify(plugin, "b2", "+1234567890", at: 1)
        #expect(directory.server.requests("/customers/%2B1234567890/") == 0)
        #expect(try lookups(plugin).last?["status"] == .string("SKIPPED"))
        usleep(2_100_000)
        identify(plugin, "b3", "+1234567890", at: 2)
        #expect(directory.server.requests("/customers/%2B1234567890/") == 1)
        #expect(plugin.emitted("CUSTOMER_DATA_FETCHED").last?["basket_id"] == .string("b3"))
    }

    @Test func purchaseHistoryIsBuiltFromPaidBaskets() throws {
        let directory = try Directory()
        let plugin = try plugin(directory)
        identify(plugin, "b1", "+1234567890", at: 0)
        plugin.send("ITEM_ADDED", at: 1, ["basket_id": .string("b1"), "product_id": .string("BURGER"), "quantity": .number(2), "price": .number(8.99)])
        plugin.send("ITEM_ADDED", at: 2, ["basket_id": .string("b1"), "product_id": .string("COKE"), "price": .number(1.99)])
        plugin.send("ITEM_REMOVED", at: 3, ["basket_id": .string("b1"), "product_id": .string("COKE")])
        plugin.send("PAYMENT_PROCESSED", at: 4, ["basket_id": .string("b1"), "amount": .number(17.98)])
        plugin.send("BASKET_STARTED", at: 5, ["basket_id": .string("anon"), "terminal_id": .string("T1")])
        plugin.send("PAYMENT_PROCESSED", at: 6, ["basket_id": .string("anon"), "amount": .number(1)])
        let history = try plugin.query("customer_purchases", #"{"customer_id": "CUST_001"}"#).arrayValue ?? []
        #expect(history.count == 1 && history[0]["amount"] == .number(17.98))
        #expect(history[0]["lines"]?.arrayValue?.compactMap { $0["product_id"]?.stringValue } == ["BURGER"])
        // The audit keeps the kind of identifier and the customer, never the raw identifier.
        let stored = plugin.store.entries(plugin: "customer_lookup").filter { String(decoding: $0.key, as: UTF8.self).hasPrefix("audit:") }
        #expect(!stored.isEmpty && stored.values.allSatisfy { !String(decoding: $0, as: UTF8.self).contains("1234567890") })
    }
}
