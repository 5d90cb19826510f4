import Foundation
import Testing

@testable import PluginHost

/// age_verification: holding, verifying (typed age, date of birth, ID barcode), the payment
/// gate, violations, and what is (not) stored. Event time is 2026-11-25.
@Suite struct AgeVerificationTests {
    func add(_ plugin: PluginHarness, _ product: String, at second: Double, basket: String = "b1", extra: [String: JSONValue] = [:]) {
        plugin.send("ITEM_ADDED", at: second, ["basket_id": .string(basket), "product_id": .string(product), "quantity": .number(1), "price": .number(5)].merging(extra) { $1 })
    }

    func gate(_ plugin: PluginHarness, _ basket: String = "b1") throws -> JSONValue { try plugin.query("payment_gate", #"{"basket_id": "\#(basket)"}"#) }

    func verify(_ plugin: PluginHarness, at second: Double, basket: String = "b1", _ fields: [String: JSONValue]) {
        plugin.send("AGE_VERIFIED", at: second, ["basket_id": .string(basket), "verifier_employee_id": .number(4)].merging(fields) { $1 })
    }

    static func licence(version: String, birth: String, expiry: String, country: String = "USA") -> String {
        "@\n\u{1e}\rANSI 636014\(version)01DL00410288ZC03290024\nDLDAQD1234567\nDCSPUBLIC\nDACJOHN\nDBB\(birth)\nDBA\(expiry)\nDCG\(country)\n"
    }

    @Test func restrictedItemsAreHeldUntilVerifiedAndThenReleased() throws {
        let plugin = try PluginHarness("age_verification")
        plugin.send("BASKET_STARTED", at: 0, ["basket_id": .string("b1"), "terminal_id": .string("T1")])
        add(plugin, "BURGER", at: 1)
        #expect(plugin.emitted("AGE_VERIFICATION_REQUIRED").isEmpty)
        #expect(try gate(plugin)["allowed"] == .bool(true))
        add(plugin, "ENERGY_DRINK", at: 2)
        add(plugin, "BEER", at: 3)
        let required = try #require(plugin.emitted("AGE_VERIFICATION_REQUIRED").last)
        #expect(required["minimum_age"] == .number(21) && required["items"]?.arrayValue?.count == 2)
        #expect(try gate(plugin)["allowed"] == .bool(false))
        #expect(try gate(plugin)["reason"] == .string("UNVERIFIED_RESTRICTED_ITEMS"))
        add(plugin, "BEER", at: 4)
        plugin.send("ITEM_REMOVED", at: 5, ["basket_id": .string("b1"), "product_id": .string("BEER")])
        #expect(try gate(plugin)["held_items"]?.arrayValue?.count == 2)

        verify(plugin, at: 10, ["customer_age": .number(34)])
        #expect(plugin.emitted("VERIFIED_ITEM_ADDED").compactMap { $0["product_id"]?.stringValue } == ["ENERGY_DRINK", "BEER"])
        let completed = try #require(plugin.emitted("AGE_VERIFICATION_COMPLETED").first)
        #expect(completed["method"] == .string("MANUAL_CHECK") && completed["verifier_employee_id"] == .string("4") && completed["minimum_age"] == .number(21))
        #expect(try gate(plugin)["allowed"] == .bool(true))
        // Verified once: the next restricted item is not held again.
        add(plugin, "WINE", at: 11)
        #expect(plugin.emitted("AGE_VERIFICATION_REQUIRED").count == 3)
        #expect(try gate(plugin)["allowed"] == .bool(true))
        plugin.send("PAYMENT_PROCESSED", at: 20, ["basket_id": .string("b1"), "amount": .number(30)])
        #expect(plugin.store.entries(plugin: "age_verification").keys.allSatisfy { !String(decoding: $0, as: UTF8.self).hasPrefix("basket:") })
        #expect(try plugin.query("violations").arrayValue?.isEmpty == true)
    }

    @Test func failuresCancellationsAndUnverifiedPaymentsAreViolations() throws {
        let plugin = try PluginHarness("age_verification")
        add(plugin, "CIGARETTES", at: 0)
        verify(plugin, at: 5, ["customer_age": .number(20)])
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string("INSUFFICIENT_AGE"))
        #expect(try gate(plugin)["allowed"] == .bool(false))
        plugin.send("PAYMENT_INITIATED", at: 6, ["basket_id": .string("b1"), "amount": .number(8.99)])
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string("UNVERIFIED_RESTRICTED_ITEMS"))
        plugin.send("AGE_VERIFICATION_CANCELLED", at: 7, ["basket_id": .string("b1")])
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string("VERIFICATION_CANCELLED"))
        #expect(try gate(plugin)["allowed"] == .bool(true))  // the held items were dropped
        let violations = try plugin.query("violations", #"{"basket_id": "b1"}"#).arrayValue ?? []
        #expect(violations.compactMap { $0["reason"]?.stringValue } == ["INSUFFICIENT_AGE", "UNVERIFIED_RESTRICTED_ITEMS", "VERIFICATION_CANCELLED"])
        #expect(violations.first?["verifier"] == .string("4") && violations.first?["minimum_age"] == .number(21))
        #expect(plugin.send("AGE_VERIFIED", at: 8, ["basket_id": .string("b2")]) == .reject("AGE_VERIFIED for b2 carries no customer_age, date_of_birth or id_scan"))
    }

    @Test func aDateOfBirthCountsOnTheEventsDay() throws {
        let plugin = try PluginHarness("age_verification")
        add(plugin, "BEER", at: 0, basket: "young")
        verify(plugin, at: 1, basket: "young", ["date_of_birth": .string("2005-11-26")])  // 21 tomorrow
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string("INSUFFICIENT_AGE"))
        add(plugin, "BEER", at: 2, basket: "today")
        verify(plugin, at: 3, basket: "today", ["date_of_birth": .string("2005-11-25")])  // 21 today
        #expect(plugin.emitted("AGE_VERIFICATION_COMPLETED").last?["basket_id"] == .string("today"))
        add(plugin, "BEER", at: 4, basket: "bad")
        verify(plugin, at: 5, basket: "bad", ["date_of_birth": .string("2005-02-30")])
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string("INVALID_DATE_OF_BIRTH"))
    }

    @Test func scannedIDsAreParsedInBothDateOrdersAndExpiredOrMalformedOnesRefused() throws {
        let plugin = try PluginHarness("age_verification")
        let cases: [(String, String, String?)] = [
            ("v8", Self.licence(version: "08", birth: "01151990", expiry: "01152030"), nil),  // MMDDCCYY
            ("v1", Self.licence(version: "01", birth: "19900115", expiry: "20300115"), nil),  // CCYYMMDD
            ("ca", Self.licence(version: "08", birth: "19900115", expiry: "20300115", country: "CAN"), nil),
            ("minor", Self.licence(version: "09", birth: "06012010", expiry: "06012030"), "INSUFFICIENT_AGE"),
            ("expired", Self.licence(version: "08", birth: "01151990", expiry: "01152024"), "EXPIRED_ID"),
            ("garbage", "this is not a licence", "MALFORMED_ID"),
            ("nodob", "@\n\u{1e}\rANSI 636014080101DL00410288\nDLDAQX1\nDBA01152030\n", "MALFORMED_ID"),
        ]
        for (index, (basket, scan, failure)) in cases.enumerated() {
            add(plugin, "WINE", at: Double(index) * 10, basket: basket)
            verify(plugin, at: Double(index) * 10 + 1, basket: basket, ["id_scan": .string(scan)])
            if let failure {
                #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["basket_id"] == .string(basket))
                #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["reason"] == .string(failure), "\(basket)")
            } else {
                #expect(plugin.emitted("AGE_VERIFICATION_COMPLETED").last?["basket_id"] == .string(basket), "\(basket)")
                #expect(plugin.emitted("AGE_VERIFICATION_COMPLETED").last?["method"] == .string("ID_SCAN"))
            }
        }
        // Nothing from the ID is kept: no licence number, name or date of birth in the state.
        let stored = plugin.store.entries(plugin: "age_verification").map { String(decoding: $0.key + $0.value, as: UTF8.self) }.joined()
        for secret in ["D1234567", "PUBLIC", "JOHN", "1990", "01151990"] { #expect(!stored.contains(secret), "\(secret) stored") }
    }

    @Test func theJurisdictionsAgesComeFromSettingsAndCanChangeLive() throws {
        let plugin = try PluginHarness("age_verification")
        try plugin.reconfigure(.object(["jurisdiction": .string("DE"), "categories": .array([.object(["category": .string("alcohol"), "minimum_age": .number(16)])])]))
        add(plugin, "BEER", at: 0)
        #expect(plugin.emitted("AGE_VERIFICATION_REQUIRED").last?["minimum_age"] == .number(16))
        #expect(plugin.emitted("AGE_VERIFICATION_REQUIRED").last?["jurisdiction"] == .string("DE"))
        // An item that carries its own restriction (the original's product fields) is honoured.
        add(plugin, "KNIFE", at: 1, basket: "b2", extra: ["age_restricted": .bool(true), "minimum_age": .number(18)])
        #expect(plugin.emitted("AGE_VERIFICATION_REQUIRED").last?["minimum_age"] == .number(18))
        verify(plugin, at: 2, ["customer_age": .number(17)])
        #expect(plugin.emitted("AGE_VERIFICATION_COMPLETED").last?["basket_id"] == .string("b1"))
    }
}
