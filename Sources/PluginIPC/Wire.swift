/// Binary encoding of the messages between the host and a plugin worker: little-endian
/// integers and length-prefixed byte strings. Hand-written (not Codable/JSON) because it runs
/// for every event and must not pull Foundation into the worker (see docs/adr/0009).
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    public mutating func data(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func data(_ value: UnsafeBufferPointer<UInt8>) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ value: String) {
        var text = value
        text.withUTF8 { data($0) }
    }

    public mutating func optionalString(_ value: String?) {
        bool(value != nil)
        if let value { string(value) }
    }
}

/// The message was shorter than its fields say, or carried an unknown tag.
public struct WireError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct WireReader {
    private let bytes: [UInt8]
    private var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset >= bytes.count }

    private mutating func take(_ count: Int) throws(WireError) -> Range<Int> {
        guard count >= 0, bytes.count - offset >= count else {
            throw WireError("message truncated: needed \(count) bytes at offset \(offset) of \(bytes.count)")
        }
        defer { offset += count }
        return offset..<(offset + count)
    }

    public mutating func u8() throws(WireError) -> UInt8 { bytes[try take(1).lowerBound] }
    public mutating func bool() throws(WireError) -> Bool { try u8() != 0 }

    public mutating func u32() throws(WireError) -> UInt32 {
        let range = try take(4)
        var value: UInt32 = 0
        for index in range.reversed() { value = value << 8 | UInt32(bytes[index]) }
        return value
    }

    public mutating func u64() throws(WireError) -> UInt64 {
        let range = try take(8)
        var value: UInt64 = 0
        for index in range.reversed() { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    public mutating func i64() throws(WireError) -> Int64 { Int64(bitPattern: try u64()) }

    public mutating func data() throws(WireError) -> [UInt8] {
        let count = Int(try u32())
        return Array(bytes[try take(count)])
    }

    public mutating func string() throws(WireError) -> String {
        String(decoding: try data(), as: UTF8.self)
    }

    public mutating func optionalString() throws(WireError) -> String? {
        try bool() ? try string() : nil
    }
}
