/// UTC timestamps as text, without Foundation's formatters (which allocate and take locks).
public enum UTCTime {
    /// `2026-12-02T07:15:29.123Z` for milliseconds since the Unix epoch.
    public static func iso8601(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let days = seconds / 86_400
        var remainder = seconds % 86_400
        let hour = remainder / 3600
        remainder %= 3600
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(hour)):\(two(remainder / 60)):\(two(remainder % 60)).\(zeroPadded3(Int(milliseconds % 1000)))Z"
    }

    /// `value` zero-padded to three digits.
    public static func zeroPadded3(_ value: Int) -> String {
        let digits = "\(value)"
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
