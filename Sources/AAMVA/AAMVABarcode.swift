/// The text of a driver licence or ID card PDF417 barcode, read as the AAMVA DL/ID Card Design
/// Standard lays it out (annex D): a header (compliance indicator `@`, the three separators, the
/// file type `ANSI `, the issuer's IIN, the AAMVA and jurisdiction version numbers, the number of
/// entries), one 10-byte designator per subfile (type, offset, length), then the subfiles. A
/// subfile starts with its type (`DL`, `ID`, `Z?`) and the first data element follows it with no
/// separator (`DLDAQ...`, `DLDBA...`); each element is a 3-character id and its value.
///
/// Real scanners are looser than the standard, so this reader is too, in documented ways:
/// - any of LF, CR, CR LF, LF CR or RS (and runs of them) separate elements: keyboard-wedge
///   scanners and browser text areas rewrite the separators;
/// - leading whitespace, a byte-order mark and an AIM symbology identifier (`]L2`) before the
///   header are skipped;
/// - a subfile is found at its designator's offset when the type is there; otherwise (offsets
///   shift when separators are rewritten) at the first `DL`/`ID` followed by an element id after
///   the designators;
/// - `AAMVA` is accepted as the file type of pre-standard cards.
/// It never traps: any text gives a barcode or a `Problem`.
public struct AAMVABarcode: Sendable, Equatable {
    /// One subfile designator of the header.
    public struct Designator: Sendable, Equatable {
        public var type: String
        public var offset: Int
        public var length: Int
    }

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// No `ANSI ` (or `AAMVA`) header with a readable issuer number and version.
        case notAAMVA
        /// A header, but no driver licence (`DL`) or ID card (`ID`) subfile.
        case noLicenceData

        public var description: String {
            switch self {
            case .notAAMVA: "this is not the barcode of a driver licence or ID card"
            case .noLicenceData: "the barcode holds no licence or ID card data"
            }
        }
    }

    /// Issuer identification number (6 digits: 636xxx for US states, 6044xx/6360xx for provinces).
    public var issuer: String
    /// The AAMVA standard version the card follows (00-10 today).
    public var version: Int
    /// The jurisdiction's own version number (absent in version 01 headers).
    public var jurisdictionVersion: Int?
    public var designators: [Designator]
    /// `DL` or `ID`: the subfile the elements come from.
    public var subfileType: String
    /// The data elements of that subfile, by id (`DBB`, `DBA`, `DCG`...), values with trailing
    /// spaces removed. The first occurrence of an id wins.
    public var elements: [String: String]
    /// True when the subfile was not where its designator said (the separators were rewritten).
    public var locatedBySearch: Bool

    public init(parsing text: String) throws(Problem) {
        let bytes = Array(text.utf8)
        guard let header = Self.findHeader(bytes) else { throw .notAAMVA }
        issuer = header.issuer
        version = header.version
        jurisdictionVersion = header.jurisdictionVersion
        designators = header.designators

        // Licence data: the first DL or ID subfile the header names. Offsets are often wrong on
        // real cards (off by the separators a scanner rewrote, or by one or two bytes on the card
        // itself), so: at the offset (give or take two bytes), else right after the designators,
        // else the first DL/ID type followed by an element id.
        let wanted = header.designators.first { $0.type == "DL" || $0.type == "ID" }
        let types = wanted.map { [$0.type] } ?? ["DL", "ID"]
        var start: Int?
        var type = types[0]
        var searched = true
        if let wanted {
            for delta in [0, -1, 1, -2, 2] {
                let at = header.base + wanted.offset + delta
                if at >= header.end, let elements = Self.elementsStart(afterType: wanted.type, at: at, in: bytes) {
                    start = elements
                    searched = delta != 0
                    break
                }
            }
        }
        if start == nil {
            var at = header.end
            while at < bytes.count, Self.isSeparator(bytes[at]) { at += 1 }
            for candidate in types {
                if let elements = Self.elementsStart(afterType: candidate, at: at, in: bytes) {
                    start = elements
                    type = candidate
                }
            }
            // Some cards (version 01 and a few later ones) start the elements without the type.
            if start == nil, Self.isElementID(bytes, at) { start = at }
        }
        if start == nil {
            search: for candidate in types {
                var from = header.end
                while let at = Self.find(Array(candidate.utf8), in: bytes, from: from) {
                    if let elements = Self.elementsStart(afterType: candidate, at: at, in: bytes) {
                        start = elements
                        type = candidate
                        break search
                    }
                    from = at + 1
                }
            }
        }
        guard let start else { throw .noLicenceData }
        subfileType = type
        locatedBySearch = searched
        let others = Set(header.designators.map(\.type)).subtracting([type])
        elements = Self.elements(bytes, from: start, separators: header.separators, otherSubfiles: others)
        guard !elements.isEmpty else { throw .noLicenceData }
    }

    // MARK: - Header

    struct Header {
        /// Where the file begins (the compliance indicator); offsets count from here.
        var base: Int
        /// The first byte after the designators.
        var end: Int
        var issuer: String
        var version: Int
        var jurisdictionVersion: Int?
        var designators: [Designator]
        /// The separators the header declares, where they are punctuation (`|` on some
        /// scanners); LF, CR and RS always separate.
        var separators: Set<UInt8>
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isUpperOrDigit(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || isDigit(byte) }

    static func number(_ bytes: [UInt8], _ start: Int, _ count: Int) -> Int? {
        guard start >= 0, start + count <= bytes.count else { return nil }
        var value = 0
        for index in start..<(start + count) {
            guard isDigit(bytes[index]) else { return nil }
            value = value * 10 + Int(bytes[index] - 0x30)
        }
        return value
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int = 0) -> Int? {
        guard !needle.isEmpty, from >= 0, haystack.count >= needle.count, from <= haystack.count - needle.count else { return nil }
        for start in from...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }

    static func findHeader(_ bytes: [UInt8]) -> Header? {
        for fileType in ["ANSI ", "AAMVA"] {
            var from = 0
            while let at = find(Array(fileType.utf8), in: bytes, from: from) {
                if let header = header(bytes, fileTypeAt: at) { return header }
                from = at + 1
            }
        }
        return nil
    }

    /// Reads the header whose file type starts at `at`. Version 01 headers have no jurisdiction
    /// version; a card that does not follow that is read with the other layout when only that
    /// one gives well-formed designators.
    static func header(_ bytes: [UInt8], fileTypeAt at: Int) -> Header? {
        let issuerAt = at + 5
        guard number(bytes, issuerAt, 6) != nil, let version = number(bytes, issuerAt + 6, 2) else { return nil }
        let issuer = String(decoding: bytes[issuerAt..<(issuerAt + 6)], as: UTF8.self)
        // The compliance indicator normally stands 4 bytes before the file type ("@" LF RS CR);
        // scanners insert or drop bytes there.
        let indicator = bytes[max(0, at - 32)..<at].lastIndex(of: UInt8(ascii: "@"))
        let base = indicator ?? max(0, at - 4)
        var separators: Set<UInt8> = [0x0A, 0x0D, 0x1E]
        if let indicator {
            for index in (indicator + 1)..<min(indicator + 4, at) {
                let byte = bytes[index]
                if byte > 0x20, byte < 0x7F, !isUpperOrDigit(byte), !(byte >= 0x61 && byte <= 0x7A) { separators.insert(byte) }
            }
        }
        let layouts: [Bool] = version <= 1 ? [false, true] : [true, false]
        var fallback: Header?
        for hasJurisdictionVersion in layouts {
            var cursor = issuerAt + 8
            var jurisdictionVersion: Int?
            if hasJurisdictionVersion {
                guard let value = number(bytes, cursor, 2) else { continue }
                jurisdictionVersion = value
                cursor += 2
            }
            guard let entries = number(bytes, cursor, 2) else { continue }
            cursor += 2
            var designators: [Designator] = []
            while designators.count < entries, cursor + 10 <= bytes.count,
                isUpperOrDigit(bytes[cursor]), isUpperOrDigit(bytes[cursor + 1]),
                let offset = number(bytes, cursor + 2, 4), let length = number(bytes, cursor + 6, 4)
            {
                designators.append(Designator(type: String(decoding: bytes[cursor..<(cursor + 2)], as: UTF8.self), offset: offset, length: length))
                cursor += 10
            }
            let header = Header(
                base: base, end: cursor, issuer: issuer, version: version, jurisdictionVersion: jurisdictionVersion,
                designators: designators, separators: separators)
            if entries > 0, designators.count == entries { return header }
            if fallback == nil || designators.count > (fallback?.designators.count ?? 0) { fallback = header }
        }
        return fallback
    }

    // MARK: - Subfile

    static func isSeparator(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D || byte == 0x1E }

    /// A DL/ID data element id at `at`: `D` and two upper-case letters or digits.
    static func isElementID(_ bytes: [UInt8], _ at: Int) -> Bool {
        at >= 0 && at + 3 <= bytes.count && bytes[at] == UInt8(ascii: "D") && isUpperOrDigit(bytes[at + 1]) && isUpperOrDigit(bytes[at + 2])
    }

    /// Where the elements begin when the subfile `type` starts at `at`: right after the type,
    /// or after a separator some cards put there (`DL` alone on its line).
    static func elementsStart(afterType type: String, at: Int, in bytes: [UInt8]) -> Int? {
        let marker = Array(type.utf8)
        guard at >= 0, at + 2 <= bytes.count, bytes[at] == marker[0], bytes[at + 1] == marker[1] else { return nil }
        var cursor = at + 2
        while cursor < bytes.count, isSeparator(bytes[cursor]) { cursor += 1 }
        return isElementID(bytes, cursor) ? cursor : nil
    }

    /// Bytes scanners put around lines that are not part of any element: controls, spaces and
    /// C1 control characters (UTF-8 `C2 80`-`C2 9F`).
    static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var line = line
        while let head = line.first {
            if head <= 0x20 || head == 0x7F {
                line = line.dropFirst()
            } else if head == 0xC2, line.count >= 2, (0x80...0x9F).contains(line[line.startIndex + 1]) {
                line = line.dropFirst(2)
            } else {
                break
            }
        }
        while let tail = line.last {
            if tail <= 0x20 || tail == 0x7F {
                line = line.dropLast()
            } else if line.count >= 2, (0x80...0x9F).contains(tail), line[line.endIndex - 2] == 0xC2 {
                line = line.dropLast(2)
            } else {
                break
            }
        }
        return line
    }

    /// The elements from `start` to the end of the subfile: the next subfile (a line starting
    /// with another designator's type followed by one of its element ids) or the end of the text.
    static func elements(_ bytes: [UInt8], from start: Int, separators: Set<UInt8>, otherSubfiles: Set<String>) -> [String: String] {
        var elements: [String: String] = [:]
        var cursor = start
        var first = true
        while cursor < bytes.count {
            var end = cursor
            while end < bytes.count, !separators.contains(bytes[end]) { end += 1 }
            let line = trimmed(bytes[cursor..<end])
            if !first, line.count >= 3 {
                let type = String(decoding: line.prefix(2), as: UTF8.self)
                let next = line[line.startIndex + 2]
                if otherSubfiles.contains(type), next == (type.hasPrefix("Z") ? UInt8(ascii: "Z") : UInt8(ascii: "D")) { break }
            }
            first = false
            if line.count >= 3, line.prefix(3).allSatisfy(isUpperOrDigit) {
                let id = String(decoding: line.prefix(3), as: UTF8.self)
                if elements[id] == nil { elements[id] = String(decoding: line.dropFirst(3), as: UTF8.self) }
            }
            cursor = end
            while cursor < bytes.count, separators.contains(bytes[cursor]) { cursor += 1 }
        }
        return elements
    }
}
