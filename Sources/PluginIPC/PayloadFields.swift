#if canImport(Glibc)
import Glibc
#endif

/// Field access to an event payload by path (the ABI 1.1 `event_get_*` services), shared by the
/// host's services table and the worker's, so a C plugin needs no JSON parser.
///
/// The payload is the host's canonical JSON (validated, compact): the scanner only skips over
/// values to find the one at the path, without building anything, and stays within the bytes
/// whatever they hold.
public enum PayloadFields {
    public enum Kind: Sendable, Equatable { case string, number, bool, null, array, object }

    /// A value found at a path: its kind and the byte range of its JSON text.
    public struct Slice: Sendable, Equatable {
        public let kind: Kind
        public let range: Range<Int>
    }

    /// The value at `path` ("a.b.0.c"; empty: the whole payload), or nil when there is none.
    public static func find(_ payload: UnsafeBufferPointer<UInt8>, path: UnsafeBufferPointer<UInt8>) -> Slice? {
        var scanner = Scanner(bytes: payload)
        scanner.skipSpace()
        guard var current = scanner.value() else { return nil }
        guard path.count > 0 else { return current }
        var segmentStart = 0
        while segmentStart <= path.count {
            var segmentEnd = segmentStart
            while segmentEnd < path.count, path[segmentEnd] != UInt8(ascii: ".") { segmentEnd += 1 }
            let segment = UnsafeBufferPointer(rebasing: path[segmentStart..<segmentEnd])
            guard let next = scanner.child(of: current, named: segment) else { return nil }
            current = next
            segmentStart = segmentEnd + 1
        }
        return current
    }

    /// The unescaped UTF-8 bytes of a string slice.
    public static func string(_ payload: UnsafeBufferPointer<UInt8>, _ slice: Slice) -> [UInt8]? {
        guard slice.kind == .string else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count - 2)
        var index = slice.range.lowerBound + 1
        let end = slice.range.upperBound - 1
        while index < end {
            let byte = payload[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < end else { return nil }
            let escape = payload[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(payload, index, end) else { return nil }
                index += 4
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= end, payload[index] == UInt8(ascii: "\\"),
                    payload[index + 1] == UInt8(ascii: "u"), let low = hex4(payload, index + 2, end), (0xDC00..<0xE000).contains(low)
                {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: out.append(escape)  // \" \\ \/
            }
        }
        return out
    }

    /// A number slice as a whole number, when it is one within Int64.
    public static func int64(_ payload: UnsafeBufferPointer<UInt8>, _ slice: Slice) -> Int64? {
        guard slice.kind == .number else { return nil }
        let text = String(decoding: UnsafeBufferPointer(rebasing: payload[slice.range]), as: UTF8.self)
        if let exact = Int64(text) { return exact }
        guard let value = Double(text), value.rounded() == value, value >= -9.223372036854775808e18, value < 9.223372036854775808e18 else {
            return nil
        }
        return Int64(value)
    }

    public static func double(_ payload: UnsafeBufferPointer<UInt8>, _ slice: Slice) -> Double? {
        guard slice.kind == .number else { return nil }
        return Double(String(decoding: UnsafeBufferPointer(rebasing: payload[slice.range]), as: UTF8.self))
    }

    public static func bool(_ payload: UnsafeBufferPointer<UInt8>, _ slice: Slice) -> Bool? {
        guard slice.kind == .bool else { return nil }
        return payload[slice.range.lowerBound] == UInt8(ascii: "t")
    }

    /// Elements of an array or members of an object.
    public static func length(_ payload: UnsafeBufferPointer<UInt8>, _ slice: Slice) -> Int? {
        guard slice.kind == .array || slice.kind == .object else { return nil }
        var scanner = Scanner(bytes: payload)
        var count = 0
        guard scanner.forEachChild(of: slice, { _, _ in count += 1; return false }) else { return nil }
        return count
    }

    private static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, _ at: Int, _ end: Int) -> UInt32? {
        guard at + 4 <= end else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[at + offset]
            let digit: UInt8
            switch byte {
            case 48...57: digit = byte - 48
            case 65...70: digit = byte - 55
            case 97...102: digit = byte - 87
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Skips over JSON values without building them.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        /// The value starting at `index` (after space), leaving `index` after it.
        mutating func value(depth: Int = 0) -> Slice? {
            guard index < bytes.count, depth < 512 else { return nil }
            let start = index
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\\") { index += 2; continue }
                    index += 1
                    if byte == UInt8(ascii: "\"") { return Slice(kind: .string, range: start..<index) }
                }
                return nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = bytes[index] == UInt8(ascii: "{")
                let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                skipSpace()
                if index < bytes.count, bytes[index] == close {
                    index += 1
                    return Slice(kind: isObject ? .object : .array, range: start..<index)
                }
                while true {
                    if isObject {
                        guard let key = value(depth: depth + 1), key.kind == .string else { return nil }
                        _ = key
                        skipSpace()
                        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                        index += 1
                        skipSpace()
                    }
                    guard value(depth: depth + 1) != nil else { return nil }
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        skipSpace()
                        continue
                    }
                    guard bytes[index] == close else { return nil }
                    index += 1
                    return Slice(kind: isObject ? .object : .array, range: start..<index)
                }
            case UInt8(ascii: "t"): return literal("true", .bool, start)
            case UInt8(ascii: "f"): return literal("false", .bool, start)
            case UInt8(ascii: "n"): return literal("null", .null, start)
            default:
                while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
                return index > start ? Slice(kind: .number, range: start..<index) : nil
            }
        }

        private mutating func literal(_ word: StaticString, _ kind: Kind, _ start: Int) -> Slice? {
            let count = word.utf8CodeUnitCount
            guard start + count <= bytes.count else { return nil }
            for offset in 0..<count where bytes[start + offset] != word.utf8Start[offset] { return nil }
            index = start + count
            return Slice(kind: kind, range: start..<index)
        }

        static func isNumberByte(_ byte: UInt8) -> Bool {
            (48...57).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }

        /// Calls `visit` with each member (key slice, value) or element (nil, value) of a
        /// container until it returns true. False when the container is malformed.
        mutating func forEachChild(of container: Slice, _ visit: (Slice?, Slice) -> Bool) -> Bool {
            index = container.range.lowerBound + 1
            let isObject = container.kind == .object
            while true {
                skipSpace()
                guard index < container.range.upperBound else { return false }
                if index == container.range.upperBound - 1 { return true }  // the closing bracket
                var key: Slice?
                if isObject {
                    guard let name = value(depth: 1), name.kind == .string else { return false }
                    key = name
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                }
                guard let child = value(depth: 1) else { return false }
                if visit(key, child) { return true }
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: ",") { index += 1 }
            }
        }

        /// The member `name` of an object, or the element at decimal index `name` of an array.
        mutating func child(of container: Slice, named name: UnsafeBufferPointer<UInt8>) -> Slice? {
            switch container.kind {
            case .object:
                var found: Slice?
                let bytes = self.bytes
                _ = forEachChild(of: container) { key, value in
                    guard let key else { return false }
                    // Canonical payloads escape only what JSON requires: compare unescaped.
                    let raw = UnsafeBufferPointer(rebasing: bytes[(key.range.lowerBound + 1)..<(key.range.upperBound - 1)])
                    let matches: Bool
                    if raw.contains(UInt8(ascii: "\\")) {
                        matches = PayloadFields.string(bytes, key).map { $0.elementsEqual(name) } ?? false
                    } else {
                        matches = raw.elementsEqual(name)
                    }
                    if matches { found = value }
                    return matches
                }
                return found
            case .array:
                guard !name.isEmpty, name.count <= 9, name.allSatisfy({ (48...57).contains($0) }) else { return nil }
                var wanted = 0
                for digit in name { wanted = wanted * 10 + Int(digit - 48) }
                var position = 0
                var found: Slice?
                _ = forEachChild(of: container) { _, value in
                    if position == wanted { found = value; return true }
                    position += 1
                    return false
                }
                return found
            default: return nil
            }
        }
    }
}

extension PayloadFields.Slice {
    var count: Int { range.count }
}
