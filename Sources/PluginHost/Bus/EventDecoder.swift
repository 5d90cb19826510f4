import Foundation

/// Turns one raw input record (a JSON line, later a Kafka message) into an ``Event``, or says
/// precisely why it cannot. Accepts two shapes:
///
/// - the envelope: `{"id", "type", "key", "time_ms" | "time", "payload": {...}}`;
/// - the original system's flat shape: `{"event_type", "timestamp", ...fields}`, where the
///   whole object is the payload and the key is `basket_id`, else `terminal_id`.
///
/// An input without an id gets one derived from its bytes, so the same input always becomes
/// the same event (re-reading a file does not invent new events).
public struct EventDecoder: Sendable {
    public var maxEventBytes: Int
    let clock: any HostClock

    public init(maxEventBytes: Int, clock: any HostClock) {
        self.maxEventBytes = maxEventBytes
        self.clock = clock
    }

    public struct Rejection: Error, Equatable, CustomStringConvertible, Sendable {
        public var reason: String
        public var description: String { reason }
    }

    static let typePattern = try! NSRegularExpression(pattern: #"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$"#)

    public func decode(_ raw: [UInt8]) throws(Rejection) -> Event {
        guard raw.count <= maxEventBytes else {
            throw Rejection(reason: "oversize: \(raw.count) bytes is more than the limit of \(maxEventBytes) (events.max_event_bytes)")
        }
        guard String(validating: raw, as: UTF8.self) != nil else { throw Rejection(reason: "not valid UTF-8") }
        let value: JSONValue
        do { value = try JSONValue.parse(raw) } catch {
            throw Rejection(reason: "not JSON: \((error as? JSONValue.ParseError)?.message ?? String(describing: error))")
        }
        guard case .object(let object) = value else { throw Rejection(reason: "not a JSON object (got \(value.typeName))") }

        if let type = object["type"], object["payload"] != nil {
            return try envelope(object, type: type, raw: raw)
        }
        if let type = object["event_type"] {
            return try flat(object, type: type, raw: raw)
        }
        throw Rejection(reason: "no event type: expected an envelope with \"type\" and \"payload\", or a flat event with \"event_type\"")
    }

    private func envelope(_ object: [String: JSONValue], type: JSONValue, raw: [UInt8]) throws(Rejection) -> Event {
        let typeName = try validType(type, field: "type")
        guard case .object = object["payload"]! else { throw Rejection(reason: "\"payload\" must be a JSON object") }
        let payload = object["payload"]!
        let id = try optionalString(object["id"], field: "id") ?? CallIDs.derived(from: raw)
        let key = try optionalString(object["key"], field: "key") ?? routingKey(payload.objectValue!)
        let time = try eventTime(object["time_ms"], iso: object["time"])
        return Event(
            id: id, type: typeName, key: key, timeMilliseconds: time, payload: payload.jsonBytes,
            causationId: try optionalString(object["causation_id"], field: "causation_id"), source: "ingress")
    }

    private func flat(_ object: [String: JSONValue], type: JSONValue, raw: [UInt8]) throws(Rejection) -> Event {
        let typeName = try validType(type, field: "event_type")
        let id = try optionalString(object["event_id"], field: "event_id") ?? CallIDs.derived(from: raw)
        let time = try eventTime(object["time_ms"], iso: object["timestamp"])
        return Event(id: id, type: typeName, key: routingKey(object), timeMilliseconds: time, payload: raw, source: "ingress")
    }

    private func validType(_ value: JSONValue, field: String) throws(Rejection) -> String {
        guard let name = value.stringValue else { throw Rejection(reason: "\"\(field)\" must be a string") }
        guard Self.typePattern.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil else {
            throw Rejection(reason: "\"\(field)\" '\(name.prefix(80))' is not a valid event type name")
        }
        return name
    }

    private func optionalString(_ value: JSONValue?, field: String) throws(Rejection) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .number(let number)? where number.rounded() == number: return String(Int64(number))
        default: throw Rejection(reason: "\"\(field)\" must be a string")
        }
    }

    /// Basket id, else terminal id, else empty: the ordering key.
    func routingKey(_ object: [String: JSONValue]) -> String {
        for field in ["basket_id", "terminal_id"] {
            switch object[field] {
            case .string(let text)? where !text.isEmpty: return text
            case .number(let number)?: return String(Int64(number))
            default: continue
            }
        }
        return ""
    }

    private func eventTime(_ milliseconds: JSONValue?, iso: JSONValue?) throws(Rejection) -> Int64 {
        if let milliseconds, milliseconds != .null {
            guard let number = milliseconds.numberValue, number.isFinite else { throw Rejection(reason: "\"time_ms\" must be a number") }
            return Int64(number)
        }
        if let iso, iso != .null {
            guard let text = iso.stringValue, let parsed = Self.parseISO8601(text) else {
                throw Rejection(reason: "event time \(iso.jsonText.prefix(60)) is not an ISO 8601 timestamp")
            }
            return parsed
        }
        // No event time at all: the moment the host received it is the best there is.
        return clock.nowMilliseconds()
    }

    /// ISO 8601 with or without fractional seconds; a time without zone is taken as UTC (the
    /// original system's Python `isoformat()` writes naive UTC times).
    static func parseISO8601(_ text: String) -> Int64? {
        var candidate = text
        let hasZone = candidate.hasSuffix("Z") || candidate.range(of: #"[+-][0-9]{2}:?[0-9]{2}$"#, options: .regularExpression) != nil
        if !hasZone { candidate += "Z" }
        // Trim fractional digits beyond milliseconds, which the formatter does not accept.
        if let dot = candidate.firstIndex(of: "."), let end = candidate[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            let digits = candidate[candidate.index(after: dot)..<end]
            if digits.count > 3 { candidate.replaceSubrange(candidate.index(after: dot)..<end, with: digits.prefix(3)) }
        }
        for formatter in [fractional, whole] {
            if let date = formatter.date(from: candidate) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }

    nonisolated(unsafe) static let fractional: ISO8601DateFormatter = {
        // ISO8601DateFormatter is thread-safe for parsing once configured; it is never mutated again.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    nonisolated(unsafe) static let whole: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }()
}

enum CallIDs {
    /// A stable id for an input that carries none.
    static func derived(from raw: [UInt8]) -> String { PluginCall.derivedID(String(decoding: raw, as: UTF8.self)) }
}
