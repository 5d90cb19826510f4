/// A day of the proleptic Gregorian calendar, without a time or a time zone. Age and expiry
/// rules are rules about calendar days (the law asks "is today on or after the 21st birthday?"),
/// so they are computed on these, never on instants.
public struct CivilDay: Equatable, Comparable, Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD` (ISO 8601).
    public init?(iso text: Substring) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        self.init(year: year, month: month, day: day)
        guard isValid else { return nil }
    }

    public static func < (a: CivilDay, b: CivilDay) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// A real date: month 1-12, a day that month has, a year a document can carry.
    public var isValid: Bool {
        guard (1800...2300).contains(year), (1...12).contains(month), day >= 1 else { return false }
        return day <= Self.length(ofMonth: month, in: year)
    }

    public static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func length(ofMonth month: Int, in year: Int) -> Int {
        [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// The same day `years` later. A 29 February becomes 1 March in a year without one: the
    /// rule of most US states and Canadian provinces for birthdays, and the one `age(on:)` uses,
    /// so that `birth.adding(years: 21)` is exactly the first day on which `age` is 21.
    public func adding(years: Int) -> CivilDay {
        let target = year + years
        if month == 2, day == 29, !Self.isLeap(target) { return CivilDay(year: target, month: 3, day: 1) }
        return CivilDay(year: target, month: month, day: day)
    }

    /// Completed years on `today` of someone born on this day (a 29 February birthday counts on
    /// 1 March in common years).
    public func age(on today: CivilDay) -> Int {
        var years = today.year - year
        if today < adding(years: years) { years -= 1 }
        return years
    }

    /// The day `count` days after 1970-01-01 (Howard Hinnant's civil-from-days).
    public init(daysSinceEpoch count: Int64) {
        let days = count + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        self.init(year: Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), month: Int(month), day: Int(day))
    }

    /// The calendar day at `milliseconds` since the Unix epoch, `offsetSeconds` east of UTC
    /// (the store's offset at that instant).
    public init(unixMilliseconds milliseconds: Int64, offsetSeconds: Int = 0) {
        let local = milliseconds.addingReportingOverflow(Int64(offsetSeconds) * 1000)
        let value = local.overflow ? milliseconds : local.partialValue
        // Floor division, so that instants before 1970 land on the right day.
        var days = value / 86_400_000
        if value % 86_400_000 < 0 { days -= 1 }
        self.init(daysSinceEpoch: days)
    }
}
