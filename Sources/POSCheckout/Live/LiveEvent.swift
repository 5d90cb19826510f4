import Foundation
import POSPlatform

/// An event read from the bus for the tills: pos-api's own (basket changes, payments, logins)
/// and those plugins emitted (age checks, fraud alerts, recommendations, session ends), with
/// where it was read and which till and basket it concerns.
public struct LiveEvent: Sendable, Equatable {
    public var id: String
    public var type: String
    public var timeMilliseconds: Int64
    public var source: String?
    public var correlationId: String?
    public var causationId: String?
    /// The payload as JSON text, as it was on the bus.
    public var payload: [String: JSONValue]
    public var partition: Int32
    public var offset: Int64
    /// The till it concerns: the payload's `terminal_id`, else the basket's till (filled in by
    /// the feed from its directory).
    public var terminalId: String?
    public var basketId: String?
    /// The hub's read position just after this event: the resume token pushed with it.
    public var cursor = LiveCursor()
    /// The record's size on the bus (what keeping it costs, roughly).
    public var size = 0

    /// Reads an envelope v1 (docs/events.md), or the original's flat shape. nil for anything
    /// else (the feed counts it and goes on: the host dead-letters such records anyway).
    public static func decode(_ value: [UInt8], partition: Int32, offset: Int64, timestamp: Int64?) -> LiveEvent? {
        guard value.count <= 1 << 20, let parsed = try? JSONValue.parse(value), case .object(let fields) = parsed else { return nil }
        let type: String, payload: [String: JSONValue]
        if let typed = fields["type"]?.stringValue, case .object(let inner)? = fields["payload"] {
            type = typed
            payload = inner
        } else if let typed = fields["event_type"]?.stringValue {
            type = typed
            payload = fields.filter { !["event_type", "timestamp", "event_id", "time_ms", "correlation_id", "causation_id", "schema_version", "source"].contains($0.key) }
        } else {
            return nil
        }
        guard !type.isEmpty, type.utf8.count <= 128 else { return nil }
        let time = fields["time_ms"]?.exactInteger ?? timestamp ?? 0
        let id = fields["id"]?.stringValue ?? fields["event_id"]?.stringValue ?? "\(partition)-\(offset)"
        var event = LiveEvent(
            id: id, type: type, timeMilliseconds: time, source: fields["source"]?.stringValue, correlationId: fields["correlation_id"]?.stringValue,
            causationId: fields["causation_id"]?.stringValue, payload: payload, partition: partition, offset: offset)
        event.terminalId = payload["terminal_id"]?.stringValue
        event.basketId = payload["basket_id"]?.stringValue
        event.size = value.count + 256
        return event
    }

    /// The employee it names (plugins write ids as text, pos-api as numbers).
    public var employeeId: Int? {
        switch payload["employee_id"] {
        case .number(let number)?: return Int(exactly: number)
        case .string(let text)?: return Int(text)
        default: return nil
        }
    }

    public var payloadJSON: String { JSONValue.object(payload).jsonText }
}

/// Where a hub had read each partition: everything below these offsets was dispatched. Pushed
/// with each message (as text `0:120,1:98,2:311`), it lets a client resume on any pos-api
/// instance: every instance reads every event, so each sends exactly the matching events at or
/// past these offsets, none before.
public struct LiveCursor: Sendable, Equatable {
    public var next: [Int32: Int64] = [:]

    public init(next: [Int32: Int64] = [:]) { self.next = next }

    public var text: String { next.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",") }

    /// nil for text that is not a cursor.
    public init?(text: String) {
        guard text.utf8.count <= 4096 else { return nil }
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let partition = Int32(parts[0]), partition >= 0, let offset = Int64(parts[1]), offset >= 0 else { return nil }
            next[partition] = offset
        }
        guard !next.isEmpty else { return nil }
    }

    /// Whether `event` comes at or after this cursor (so is still to be sent).
    func admits(_ event: LiveEvent) -> Bool { event.offset >= (next[event.partition] ?? 0) }
}
