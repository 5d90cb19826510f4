import AAMVA
import Testing

/// The reader on the layouts real scanners produce, and calendar-day arithmetic.
@Suite struct AAMVABarcodeTests {
    /// A standard version 08 licence with the given elements after the subfile type.
    static func card(_ elements: [String], separator: String = "\n", header: String = "@\n\u{1e}\r", version: String = "08") -> String {
        let body = "DL" + elements.joined(separator: separator) + "\r"
        let prefix = header + "ANSI 636023\(version)0001DL0031" + fourDigits(body.utf8.count)
        return prefix + body
    }

    @Test func theFirstElementAfterTheSubfileTypeIsRead() throws {
        // Ohio's real layout: DBA is the first element, glued to "DL".
        let text = Self.card(["DBA02232030", "DCSMOTORIST", "DBB02231956", "DAQPJ842270"])
        let document = try IdentityDocument(scanned: text)
        #expect(document.expiry == CivilDay(year: 2030, month: 2, day: 23))
        #expect(document.dateOfBirth == CivilDay(year: 1956, month: 2, day: 23))
        let dobFirst = try IdentityDocument(scanned: Self.card(["DBB01151990", "DBA01152030"]))
        #expect(dobFirst.dateOfBirth == CivilDay(year: 1990, month: 1, day: 15))
    }

    @Test(arguments: ["\n", "\r", "\r\n", "\n\r", "\u{1e}", "\r\n\r\n"])
    func anySeparatorAScannerEmitsWorks(separator: String) throws {
        let elements = ["DAQD1234567", "DCSPUBLIC", "DBB01151990", "DBA01152030", "DCGUSA"]
        let header = "@" + separator + "\u{1e}" + separator
        let document = try IdentityDocument(scanned: Self.card(elements, separator: separator, header: header))
        #expect(document.dateOfBirth == CivilDay(year: 1990, month: 1, day: 15))
        #expect(document.expiry == CivilDay(year: 2030, month: 1, day: 15))
    }

    @Test func prefixesAndWhitespaceBeforeTheHeaderAreSkipped() throws {
        let card = Self.card(["DBB01151990", "DBA01152030"])
        for prefix in ["]L2", "  \n", "\u{feff}", "]L0 \t"] {
            let document = try IdentityDocument(scanned: prefix + card)
            #expect(document.dateOfBirth == CivilDay(year: 1990, month: 1, day: 15), "prefix \(prefix.debugDescription)")
        }
        // A browser text area turns every LF into CR LF: offsets are then wrong, the subfile is searched.
        let rewritten = replacingAll(card, "\n", with: "\r\n")
        let barcode = try AAMVABarcode(parsing: rewritten)
        #expect(barcode.elements["DBB"] == "01151990")
    }

    @Test func idCardsAndVersionOneHeadersAndBothDateOrders() throws {
        let id = "@\n\u{1e}\rANSI 636053060002ID00410040ZT00810010IDDAQ1\nDBB12131961\nDBA02062026\rZTZTA1\r"
        let document = try IdentityDocument(scanned: id)
        #expect(document.kind == "ID" && document.dateOfBirth == CivilDay(year: 1961, month: 12, day: 13))
        // Version 01: no jurisdiction version in the header, CCYYMMDD dates.
        let v1 = "@\n\u{1e}\rANSI 6360250101DL00290040DLDAQ26\nDBB19860202\nDBA20200203\r"
        let old = try IdentityDocument(scanned: v1)
        #expect(old.version == 1 && old.dateOfBirth == CivilDay(year: 1986, month: 2, day: 2) && old.expiry == CivilDay(year: 2020, month: 2, day: 3))
        #expect(IdentityDocument.date("02291996") == CivilDay(year: 1996, month: 2, day: 29))
        #expect(IdentityDocument.date("02291997") == nil)
        #expect(IdentityDocument.date("1990011") == nil && IdentityDocument.date("1990-01-15") == nil)
    }

    @Test func problemsAreSentencesForACashier() {
        func problem(_ text: String) -> String {
            do {
                _ = try IdentityDocument(scanned: text)
                return "read"
            } catch { return error.description }
        }
        #expect(problem("hello") == "could not read this ID: this is not the barcode of a driver licence or ID card")
        #expect(problem(Self.card(["DAQX1", "DBA01152030"])) == "could not read the date of birth from this ID")
        #expect(problem(Self.card(["DAQX1", "DBB01151990"])) == "could not read the expiry date from this ID")
        #expect(problem(Self.card(["DBB13451990", "DBA01152030"])) == "the date of birth on this ID is not a valid date")
        for text in [problem("hello"), problem(Self.card(["DAQX1"]))] { #expect(!text.contains("DBB") && !text.contains("DBA")) }
    }

    @Test func underAgeUntilDatesAreHonouredAndCheckedAgainstTheBirthDate() throws {
        let consistent = try IdentityDocument(scanned: Self.card(["DBB06162005", "DBA06162030", "DDJ06162026"]))
        #expect(!consistent.underAgeDatesDisagree && consistent.reaches(age: 21) == CivilDay(year: 2026, month: 6, day: 16))
        let altered = try IdentityDocument(scanned: Self.card(["DBB06161995", "DBA06162030", "DDJ06162026"]))
        #expect(altered.underAgeDatesDisagree)
        // Born 29 February: some issuers print 28 February, some 1 March; both are consistent,
        // and the later day decides.
        let leap = try IdentityDocument(scanned: Self.card(["DBB02292008", "DBA02282035", "DDJ02282029"]))
        #expect(!leap.underAgeDatesDisagree && leap.reaches(age: 21) == CivilDay(year: 2029, month: 3, day: 1))
    }

    @Test func calendarDays() {
        let leap = CivilDay(year: 2008, month: 2, day: 29)
        #expect(leap.age(on: CivilDay(year: 2029, month: 2, day: 28)) == 20)
        #expect(leap.age(on: CivilDay(year: 2029, month: 3, day: 1)) == 21)
        #expect(leap.age(on: CivilDay(year: 2032, month: 2, day: 29)) == 24)
        #expect(CivilDay(year: 2005, month: 6, day: 16).age(on: CivilDay(year: 2026, month: 6, day: 15)) == 20)
        #expect(CivilDay(year: 2005, month: 6, day: 16).age(on: CivilDay(year: 2026, month: 6, day: 16)) == 21)
        // 2026-11-25T03:00Z is still the 24th at UTC-5 and already the 25th at UTC+9.
        let instant: Int64 = 1_795_575_600_000
        #expect(CivilDay(unixMilliseconds: instant) == CivilDay(year: 2026, month: 11, day: 25))
        #expect(CivilDay(unixMilliseconds: instant, offsetSeconds: -5 * 3600) == CivilDay(year: 2026, month: 11, day: 24))
        #expect(CivilDay(unixMilliseconds: -1) == CivilDay(year: 1969, month: 12, day: 31))
        #expect(CivilDay(unixMilliseconds: .max, offsetSeconds: 3600).year > 2000)  // never traps
        #expect(CivilDay(iso: "2026-02-29") == nil && CivilDay(iso: "2024-02-29") != nil && CivilDay(iso: "2024-2-9") == nil)
    }

    @Test func arbitraryBytesNeverTrap() {
        // A cheap in-suite sweep (the fuzz target goes further): truncations and byte flips of a card.
        let card = Array(Self.card(["DBB01151990", "DBA01152030", "DDJ01152011"]).utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for length in 0...card.count { _ = try? IdentityDocument(scanned: String(decoding: card.prefix(length), as: UTF8.self)) }
        for _ in 0..<2000 {
            var bytes = card
            for _ in 0..<3 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes[Int(state >> 33) % bytes.count] = UInt8(truncatingIfNeeded: state >> 17)
            }
            _ = try? IdentityDocument(scanned: String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// `value` as 4 digits, zero-padded (a designator's offset or length).
func fourDigits(_ value: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

func replacingAll(_ text: String, _ target: String, with replacement: String) -> String {
    text.split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
}
