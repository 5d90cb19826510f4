import AAMVA
import Foundation

/// The store's calendar: the law asks for a customer's age and an ID's validity on the store's
/// local date, not on the UTC day. Offsets come from the IANA time zone database, so daylight
/// saving time is applied for the instant of each event.
struct StoreCalendar {
    let timeZone: TimeZone

    init(identifier: String) throws {
        guard let zone = TimeZone(identifier: identifier) else {
            throw PluginErrorText("unknown time zone '\(identifier)' (use an IANA name such as America/Chicago or Europe/Berlin)")
        }
        timeZone = zone
    }

    /// The store's date at the event's time.
    func day(atMilliseconds milliseconds: Int64) -> CivilDay {
        let instant = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        return CivilDay(unixMilliseconds: milliseconds, offsetSeconds: timeZone.secondsFromGMT(for: instant))
    }
}

struct PluginErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The verdict on one verification: passed with the customer's age in whole years, or failed
/// with every reason that applies (not only the first), each with a sentence for the cashier.
enum AgeVerdict: Equatable {
    case passed(age: Int)
    case failed([AgeFailure])
}

struct AgeFailure: Equatable {
    /// INSUFFICIENT_AGE, EXPIRED_ID, MALFORMED_ID, INVALID_DATE_OF_BIRTH, INVALID_AGE.
    var reason: String
    var detail: String
    /// The store date from which the customer is old enough (INSUFFICIENT_AGE, when known).
    var reachesMinimumAgeOn: CivilDay?
    /// The ID's expiry date (EXPIRED_ID): the first day it is no longer valid.
    var expiredOn: CivilDay?
}

/// Age rules on calendar days. `required` is the highest minimum age of the held items (0 when
/// nothing is held: the check then records the age for later items).
enum AgeCheck {
    static func scanned(_ text: String, required: Int, today: CivilDay, acceptExpired: Bool) -> AgeVerdict {
        let document: IdentityDocument
        do { document = try IdentityDocument(scanned: text) } catch {
            return .failed([AgeFailure(reason: "MALFORMED_ID", detail: error.description)])
        }
        if document.dateOfBirth > today {
            return .failed([AgeFailure(reason: "MALFORMED_ID", detail: "the date of birth on this ID is in the future")])
        }
        if document.underAgeDatesDisagree {
            return .failed([AgeFailure(reason: "MALFORMED_ID", detail: "the under-age dates printed on this ID do not match its date of birth")])
        }
        var failures: [AgeFailure] = []
        if document.isExpired(on: today) && !acceptExpired {
            failures.append(AgeFailure(reason: "EXPIRED_ID", detail: "this ID expired on \(document.expiry)", expiredOn: document.expiry))
        }
        let reaches = document.reaches(age: required)
        if today < reaches {
            failures.append(AgeFailure(reason: "INSUFFICIENT_AGE", detail: "the customer is \(required) on \(reaches)", reachesMinimumAgeOn: reaches))
        }
        return failures.isEmpty ? .passed(age: document.dateOfBirth.age(on: today)) : .failed(failures)
    }

    static func dateOfBirth(_ text: String, required: Int, today: CivilDay) -> AgeVerdict {
        guard let birth = CivilDay(iso: Substring(text)) else {
            return .failed([AgeFailure(reason: "INVALID_DATE_OF_BIRTH", detail: "'\(text.prefix(40))' is not a date of birth (YYYY-MM-DD)")])
        }
        guard birth <= today else {
            return .failed([AgeFailure(reason: "INVALID_DATE_OF_BIRTH", detail: "the date of birth \(birth) is in the future")])
        }
        let reaches = birth.adding(years: required)
        guard today >= reaches else {
            return .failed([AgeFailure(reason: "INSUFFICIENT_AGE", detail: "the customer is \(required) on \(reaches)", reachesMinimumAgeOn: reaches)])
        }
        return .passed(age: birth.age(on: today))
    }

    /// A typed age, or one derived from an ID by the producer (`idExpired` then says whether
    /// that ID had expired).
    static func typed(_ age: Int, required: Int, idExpired: Bool = false) -> AgeVerdict {
        guard (0...150).contains(age) else {
            return .failed([AgeFailure(reason: "INVALID_AGE", detail: "\(age) is not an age")])
        }
        var failures: [AgeFailure] = []
        if idExpired { failures.append(AgeFailure(reason: "EXPIRED_ID", detail: "this ID has expired")) }
        if age < required {
            failures.append(AgeFailure(reason: "INSUFFICIENT_AGE", detail: "the customer is \(age); \(required) is required"))
        }
        return failures.isEmpty ? .passed(age: age) : .failed(failures)
    }
}
