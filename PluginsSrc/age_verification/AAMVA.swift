/// Reads the fields age checks need from the text of a driver licence / ID card PDF417 barcode
/// (AAMVA DL/ID card design standard): date of birth (DBB) and expiry (DBA). Version 01 cards
/// and Canadian cards write dates CCYYMMDD, later US versions MMDDCCYY.
struct AAMVALicence: Equatable {
    struct Day: Equatable, Comparable {
        var year: Int, month: Int, day: Int
        static func < (a: Day, b: Day) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
    }

    enum Problem: Error, Equatable, CustomStringConvertible {
        case notAAMVA
        case missingField(String)
        case badDate(String)
        var description: String {
            switch self {
            case .notAAMVA: "not an AAMVA barcode (no ANSI/AAMVA header)"
            case .missingField(let field): "the barcode has no \(field)"
            case .badDate(let field): "the barcode's \(field) is not a valid date"
            }
        }
    }

    var version: Int
    var dateOfBirth: Day
    var expiry: Day

    init(parsing text: String) throws(Problem) {
        let characters = Array(text.utf8)
        guard let header = Self.find(Array("ANSI ".utf8), in: characters) ?? Self.find(Array("AAMVA".utf8), in: characters),
            header + 13 <= characters.count
        else { throw .notAAMVA }
        // "ANSI " + issuer id (6 digits) + AAMVA version (2 digits).
        let versionText = String(decoding: characters[(header + 11)..<(header + 13)], as: UTF8.self)
        guard let version = Int(versionText) else { throw .notAAMVA }
        self.version = version
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\u{1e}" }) {
            var element = Substring(line)
            // The first element follows the subfile designator on the same line ("DLDAQ...").
            if element.hasPrefix("DL") || element.hasPrefix("ID"), element.count > 5, element.dropFirst(2).prefix(3).allSatisfy({ $0.isUppercase }) {
                element = element.dropFirst(2)
            }
            guard element.count > 3 else { continue }
            let code = String(element.prefix(3))
            if fields[code] == nil { fields[code] = String(element.dropFirst(3)).trimmingWhitespace }
        }
        let canadian = fields["DCG"] == "CAN"
        func date(_ code: String, _ name: String) throws(Problem) -> Day {
            guard let value = fields[code] else { throw .missingField(name) }
            let digits = Array(value.utf8).filter { $0 >= 48 && $0 <= 57 }.map { Int($0) - 48 }
            guard digits.count == 8 else { throw .badDate(name) }
            func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + digits[$1] } }
            let yearFirst = Day(year: number(0..<4), month: number(4..<6), day: number(6..<8))
            let monthFirst = Day(year: number(4..<8), month: number(0..<2), day: number(2..<4))
            let preferred = version <= 1 || canadian ? [yearFirst, monthFirst] : [monthFirst, yearFirst]
            guard let valid = preferred.first(where: Self.isValid) else { throw .badDate(name) }
            return valid
        }
        dateOfBirth = try date("DBB", "date of birth (DBB)")
        expiry = try date("DBA", "expiry date (DBA)")
    }

    static func isValid(_ day: Day) -> Bool {
        guard day.year >= 1900, day.year <= 2200, (1...12).contains(day.month), day.day >= 1 else { return false }
        let lengths = [31, isLeap(day.year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day.day <= lengths[day.month - 1]
    }

    static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        return nil
    }

    /// Completed years on `today` for someone born on `birth`.
    static func age(born birth: Day, on today: Day) -> Int {
        var years = today.year - birth.year
        if (today.month, today.day) < (birth.month, birth.day) { years -= 1 }
        return years
    }

    /// The UTC calendar day of a Unix time in milliseconds (civil-from-days, no Foundation).
    static func day(ofMilliseconds milliseconds: Int64) -> Day {
        let days = Int(milliseconds / 86_400_000) + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return Day(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = Substring(self)
        while scalars.first?.isWhitespace == true { scalars = scalars.dropFirst() }
        while scalars.last?.isWhitespace == true { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
