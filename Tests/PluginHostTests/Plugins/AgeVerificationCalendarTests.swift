import Foundation
import Testing

@testable import PluginHost

/// age_verification decides on the store's calendar date (its `timezone`), by the standard's
/// expiry rule, and tells the cashier every reason with the dates that matter.
@Suite struct AgeVerificationCalendarTests {
    /// Seconds from the harness's base time (2026-11-25T09:00Z) to an ISO 8601 instant.
    static func at(_ instant: String) -> Double {
        let date = ISO8601DateFormatter().date(from: instant)!
        return date.timeIntervalSince1970 - Double(PluginHarness.base) / 1000
    }

    static func licence(birth: String, expiry: String, extra: String = "") -> String {
        "@\n\u{1e}\rANSI 636023080001DL00310100DLDBA\(expiry)\nDAQD1234567\nDBB\(birth)\n\(extra)DCGUSA\r"
    }

    static func plugin(timezone: String = "UTC") throws -> PluginHarness {
        let plugin = try PluginHarness("age_verification")
        try plugin.reconfigure(.object(["timezone": .string(timezone)]))
        return plugin
    }

    /// Holds a beer in a fresh basket and verifies it at `instant`; the last outcome's payload.
    static func check(_ plugin: PluginHarness, at instant: String, _ fields: [String: JSONValue]) -> (passed: Bool, failure: JSONValue?) {
        let basket = "b\(plugin.emitted("AGE_VERIFICATION_REQUIRED").count + 1)"
        let second = at(instant)
        plugin.send("ITEM_ADDED", at: second - 1, ["basket_id": .string(basket), "product_id": .string("BEER"), "quantity": .number(1)])
        plugin.send("AGE_VERIFIED", at: second, ["basket_id": .string(basket), "verifier_employee_id": .number(4)].merging(fields) { $1 })
        if plugin.emitted("AGE_VERIFICATION_COMPLETED").last?["basket_id"] == .string(basket) { return (true, nil) }
        let failure = plugin.emitted("AGE_VERIFICATION_FAILED").last
        #expect(failure?["basket_id"] == .string(basket))
        return (false, failure)
    }

    @Test func ageIsJudgedOnTheStoresDateWestAndEastOfUTC() throws {
        // 20:00 in New York on the 25th is already the 26th in UTC: 21 tomorrow is still 20.
        let newYork = try Self.plugin(timezone: "America/New_York")
        let evening = Self.check(newYork, at: "2026-11-26T01:00:00Z", ["date_of_birth": .string("2005-11-26")])
        #expect(!evening.passed)
        #expect(evening.failure?["reason"] == .string("INSUFFICIENT_AGE"))
        #expect(evening.failure?["reaches_minimum_age_on"] == .string("2026-11-26"))
        #expect(evening.failure?["detail"] == .string("the customer is 21 on 2026-11-26"))
        #expect(evening.failure?["method"] == .string("DATE_OF_BIRTH"))
        #expect(Self.check(newYork, at: "2026-11-26T05:00:00Z", ["date_of_birth": .string("2005-11-26")]).passed)  // midnight local
        // 05:00 in Tokyo on the 26th is still the 25th in UTC: the birthday morning passes.
        let tokyo = try Self.plugin(timezone: "Asia/Tokyo")
        #expect(Self.check(tokyo, at: "2026-11-25T20:00:00Z", ["date_of_birth": .string("2005-11-26")]).passed)
        #expect(!Self.check(tokyo, at: "2026-11-25T14:00:00Z", ["date_of_birth": .string("2005-11-26")]).passed)  // 23:00 on the 25th
        // The same through a scanned ID.
        #expect(!Self.check(newYork, at: "2026-11-26T01:00:00Z", ["id_scan": .string(Self.licence(birth: "11262005", expiry: "11262030"))]).passed)
        #expect(Self.check(tokyo, at: "2026-11-25T20:00:00Z", ["id_scan": .string(Self.licence(birth: "11262005", expiry: "11262030"))]).passed)
    }

    @Test func exactlyTheMinimumAgeTodayPassesAndOneDayShortFails() throws {
        let plugin = try Self.plugin()
        #expect(Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string(Self.licence(birth: "11252005", expiry: "11252030"))]).passed)
        let short = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string(Self.licence(birth: "11262005", expiry: "11252030"))])
        #expect(short.failure?["reasons"] == .array([.string("INSUFFICIENT_AGE")]))
        #expect(short.failure?["method"] == .string("ID_SCAN"))
    }

    @Test func aTwentyNinthOfFebruaryBirthdayCountsOnTheFirstOfMarch() throws {
        let plugin = try Self.plugin()
        #expect(!Self.check(plugin, at: "2029-02-28T12:00:00Z", ["date_of_birth": .string("2008-02-29")]).passed)
        #expect(Self.check(plugin, at: "2029-03-01T12:00:00Z", ["date_of_birth": .string("2008-02-29")]).passed)
        #expect(Self.check(plugin, at: "2029-03-01T12:00:00Z", ["id_scan": .string(Self.licence(birth: "02292008", expiry: "02282035"))]).passed)
        #expect(Self.check(plugin, at: "2032-02-29T12:00:00Z", ["date_of_birth": .string("2008-02-29")]).passed)
    }

    @Test func anIDIsNoLongerValidOnItsExpiryDateByTheStoresCalendar() throws {
        let plugin = try Self.plugin(timezone: "America/Chicago")
        // Expiry on the store's today: refused (the standard's DBA is the first invalid day).
        let today = Self.check(plugin, at: "2026-11-25T18:00:00Z", ["id_scan": .string(Self.licence(birth: "01151990", expiry: "11252026"))])
        #expect(today.failure?["reason"] == .string("EXPIRED_ID"))
        #expect(today.failure?["expired_on"] == .string("2026-11-25"))
        #expect(today.failure?["detail"] == .string("this ID expired on 2026-11-25"))
        // Expiry yesterday: refused. Expiry tomorrow by the store's date, though today by UTC: valid.
        #expect(!Self.check(plugin, at: "2026-11-25T18:00:00Z", ["id_scan": .string(Self.licence(birth: "01151990", expiry: "11242026"))]).passed)
        #expect(Self.check(plugin, at: "2026-11-26T03:00:00Z", ["id_scan": .string(Self.licence(birth: "01151990", expiry: "11262026"))]).passed)
    }

    @Test func everyFailingReasonIsReportedTogether() throws {
        let plugin = try Self.plugin()
        let both = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string(Self.licence(birth: "06162006", expiry: "06162024"))])
        #expect(both.failure?["reasons"] == .array([.string("EXPIRED_ID"), .string("INSUFFICIENT_AGE")]))
        #expect(both.failure?["detail"] == .string("this ID expired on 2024-06-16; the customer is 21 on 2027-06-16"))
        #expect(both.failure?["reaches_minimum_age_on"] == .string("2027-06-16") && both.failure?["expired_on"] == .string("2024-06-16"))
        // The violation records the reasons, never the dates (which would give the birth date away).
        let stored = plugin.store.entries(plugin: "age_verification").map { String(decoding: $0.key + $0.value, as: UTF8.self) }.joined()
        #expect(stored.contains("EXPIRED_ID") && !stored.contains("2027-06-16") && !stored.contains("2006"))
    }

    @Test func impossibleDatesAreMalformedNotUnderAge() throws {
        let plugin = try Self.plugin()
        let future = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["date_of_birth": .string("2030-01-01")])
        #expect(future.failure?["reason"] == .string("INVALID_DATE_OF_BIRTH"))
        let futureID = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string(Self.licence(birth: "01012030", expiry: "01012040"))])
        #expect(futureID.failure?["reason"] == .string("MALFORMED_ID"))
        #expect(futureID.failure?["detail"] == .string("the date of birth on this ID is in the future"))
        let unreadable = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string("@\n\u{1e}\rANSI 636023080001DL00310030DLDAQX1\nDBA01012040\r")])
        #expect(unreadable.failure?["detail"] == .string("could not read the date of birth from this ID"))
        let altered = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["id_scan": .string(Self.licence(birth: "01011990", expiry: "01012040", extra: "DDJ01012030\n"))])
        #expect(altered.failure?["reason"] == .string("MALFORMED_ID"))
        let typed = Self.check(plugin, at: "2026-11-25T12:00:00Z", ["customer_age": .number(-3)])
        #expect(typed.failure?["reason"] == .string("INVALID_AGE") && typed.failure?["method"] == .string("MANUAL_CHECK"))
        // Failures without a verification behind them say so.
        plugin.send("AGE_VERIFICATION_CANCELLED", at: 1, ["basket_id": .string("b1")])
        #expect(plugin.emitted("AGE_VERIFICATION_FAILED").last?["method"] == .string("NONE"))
    }

    @Test func anUnknownTimeZoneIsRefusedAndAStoreCanHaveItsOwn() throws {
        let plugin = try PluginHarness("age_verification")
        #expect(throws: (any Error).self) { try plugin.reconfigure(.object(["timezone": .string("Mars/Olympus_Mons")])) }
        try plugin.reconfigure(.object(["timezone": .string("UTC"), "store_timezones": .object(["S9": .string("America/Los_Angeles")])]))
        // 03:00Z on the 26th: the 26th in UTC, the 25th in Los Angeles.
        #expect(Self.check(plugin, at: "2026-11-26T03:00:00Z", ["date_of_birth": .string("2005-11-26")]).passed)
        #expect(!Self.check(plugin, at: "2026-11-26T03:00:00Z", ["date_of_birth": .string("2005-11-26"), "store_id": .string("S9")]).passed)
    }
}
