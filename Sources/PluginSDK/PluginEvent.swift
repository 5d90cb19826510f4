import PluginABI

/// One event being handled. Call-scoped: it points into host memory that is valid only during
/// ``POSPlugin/handle(_:host:)``; copy any part you need afterwards (the properties return copies).
public struct PluginEvent {
    let raw: UnsafePointer<pos_event>

    init(raw: UnsafePointer<pos_event>) { self.raw = raw }

    /// Unique event id.
    public var id: String { Self.string(raw.pointee.id, raw.pointee.id_len) }
    /// Canonical event type, such as `ITEM_ADDED`.
    public var type: String { Self.string(raw.pointee.type, raw.pointee.type_len) }
    /// Ordering key (basket id, else terminal id).
    public var key: String { Self.string(raw.pointee.key, raw.pointee.key_len) }
    /// Event time in milliseconds since the Unix epoch: base every time rule on it.
    public var timeMilliseconds: Int64 { raw.pointee.event_time_ms }
    /// 1 on first delivery, then incremented on every retry.
    public var attempt: Int { Int(raw.pointee.attempt) }

    /// The payload bytes (a JSON object), valid during the call only.
    public var payloadBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw.pointee.payload, count: raw.pointee.payload_len)
    }

    /// A copy of the payload bytes.
    public var payload: [UInt8] { Array(payloadBytes) }

    /// Decodes the payload (snake_case keys map to camelCase properties). A failure here is
    /// poison: thrown out of `handle`, it dead-letters the event.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try PluginJSON.decode(type, from: payloadBytes)
    }

    /// Whether the type equals `name`, without allocating a String.
    public func isType(_ name: StaticString) -> Bool {
        let length = raw.pointee.type_len
        guard name.utf8CodeUnitCount == length, let typePointer = raw.pointee.type else { return false }
        return memcmp(typePointer, name.utf8Start, length) == 0
    }

    static func string(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
