/// The facts an age check needs from a scanned driver licence or ID card, and nothing else: no
/// name, number or address is kept. Dates are read from the barcode's elements:
/// `DBB` date of birth, `DBA` expiry ("the date on which the privileges granted by the
/// document are no longer valid"), and the card's own `DDH` / `DDI` / `DDJ` (under 18 / 19 / 21
/// until) where present.
///
/// Date order: version 01 cards and most Canadian cards write CCYYMMDD, later US cards
/// MMDDCCYY, and real cards do not follow that rule reliably (New Brunswick writes MMDDCCYY with
/// `DCGCAN`; some US version 04 cards write CCYYMMDD). The two readings never both give a date
/// (a century 18-23 is never a month, and a year below 1800 is refused), so each date is taken
/// in whichever order gives a valid calendar date.
public struct IdentityDocument: Sendable, Equatable {
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case unreadable(AAMVABarcode.Problem)
        case noDateOfBirth
        case noExpiry
        case badDateOfBirth
        case badExpiry

        /// A sentence a cashier can act on (never an element code).
        public var description: String {
            switch self {
            case .unreadable(let problem): "could not read this ID: \(problem)"
            case .noDateOfBirth: "could not read the date of birth from this ID"
            case .noExpiry: "could not read the expiry date from this ID"
            case .badDateOfBirth: "the date of birth on this ID is not a valid date"
            case .badExpiry: "the expiry date on this ID is not a valid date"
            }
        }
    }

    /// `DL` (driver licence) or `ID` (identification card).
    public var kind: String
    public var version: Int
    public var dateOfBirth: CivilDay
    /// The first day on which the document is no longer valid.
    public var expiry: CivilDay
    /// The card's own "under N until" dates by N (18, 19, 21), where it prints them.
    public var underAgeUntil: [Int: CivilDay]

    public init(scanned text: String) throws(Problem) {
        let barcode: AAMVABarcode
        do { barcode = try AAMVABarcode(parsing: text) } catch { throw .unreadable(error) }
        try self.init(barcode)
    }

    public init(_ barcode: AAMVABarcode) throws(Problem) {
        kind = barcode.subfileType
        version = barcode.version
        guard let birth = barcode.elements["DBB"], !birth.isEmpty else { throw .noDateOfBirth }
        guard let dateOfBirth = Self.date(birth) else { throw .badDateOfBirth }
        guard let expiry = barcode.elements["DBA"], !expiry.isEmpty else { throw .noExpiry }
        guard let expiryDay = Self.date(expiry) else { throw .badExpiry }
        self.dateOfBirth = dateOfBirth
        self.expiry = expiryDay
        var underAgeUntil: [Int: CivilDay] = [:]
        for (age, id) in [(18, "DDH"), (19, "DDI"), (21, "DDJ")] {
            if let value = barcode.elements[id], let day = Self.date(value) { underAgeUntil[age] = day }
        }
        self.underAgeUntil = underAgeUntil
    }

    /// An 8-digit AAMVA date in either order (see the type's comment), or nil.
    public static func date(_ value: String) -> CivilDay? {
        let digits = value.utf8.filter { $0 >= 0x30 && $0 <= 0x39 }.map { Int($0) - 0x30 }
        // Exactly eight digits, and nothing but digits and padding around them.
        guard digits.count == 8, value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x20 }) else { return nil }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + digits[$1] } }
        let monthFirst = CivilDay(year: number(4..<8), month: number(0..<2), day: number(2..<4))
        if monthFirst.isValid { return monthFirst }
        let yearFirst = CivilDay(year: number(0..<4), month: number(4..<6), day: number(6..<8))
        return yearFirst.isValid ? yearFirst : nil
    }

    /// Valid on `today` under the standard's rule: the expiry date is the first day it is not.
    public func isExpired(on today: CivilDay) -> Bool { today >= expiry }

    /// The first day the holder is `age`: the birthday, or the card's own "under N until" date
    /// when that is later (a card is never taken to make someone older than its birth date does).
    public func reaches(age: Int) -> CivilDay {
        let birthday = dateOfBirth.adding(years: age)
        if let printed = underAgeUntil[age], printed > birthday { return printed }
        return birthday
    }

    /// True when a printed "under N until" date disagrees with the date of birth by more than
    /// the 29 February rule allows (28 Feb or 1 Mar): the sign of an altered card.
    public var underAgeDatesDisagree: Bool {
        underAgeUntil.contains { age, printed in
            let birthday = dateOfBirth.adding(years: age)
            if printed == birthday { return false }
            let leapDay = dateOfBirth.month == 2 && dateOfBirth.day == 29
            return !(leapDay && printed == CivilDay(year: birthday.year, month: 2, day: 28))
        }
    }
}
