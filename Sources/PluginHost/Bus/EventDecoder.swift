import Foundation

/// Turns one raw input record (a JSON line, later a Kafka message) into a canonical ``Event``,
/// or says precisely why it cannot. Accepts two shapes (docs/events.md):
///
/// - the envelope v1: `{"id", "type", "schema_version", "key", "time_ms" | "time", "source",
///   "correlation_id", "causation_id", "payload": {...}}`;
/// - the original system's flat shape: `{"event_type", "timestamp", ...fields}`, where the
///   fields other than the envelope's are the payload.
///
/// Type names are resolved through the ``EventCatalog`` (the original's names are aliases),
/// original field names are renamed, and the payload is checked against the type's fields.
/// The key is `basket_id`, else `terminal_id`, unless the envelope gives one. An input without
/// an id gets one derived from its bytes, so the same input always becomes the same event.
public struct EventDecoder: Sendable {
    public var maxEventBytes: Int
    let clock: any HostClock
    let catalog: EventCatalog
    let acceptUnknownTypes: Bool

    /// The envelope schema versions this host reads.
    public static let supportedSchemaVersions: ClosedRange<Int> = 1...1
    static let envelopeFields: Set<String> = ["event_type", "timestamp", "event_id", "time_ms", "correlation_id", "causation_id", "schema_version", "source"]

    public init(maxEventBytes: Int, clock: any HostClock, catalog: EventCatalog = .standard, acceptUnknownTypes: Bool = false) {
        self.maxEventBytes = maxEventBytes
        self.clock = clock
        self.catalog = catalog
        self.acceptUnknownTypes = acceptUnknownTypes
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
        guard case .object(let fields) = object["payload"]! else { throw Rejection(reason: "\"payload\" must be a JSON object") }
        if let version = object["schema_version"], version != .null {
            guard let number = version.numberValue, Self.supportedSchemaVersions.contains(Int(number)), number.rounded() == number else {
                throw Rejection(reason: "envelope schema_version \(version.jsonText) is not supported (this host reads \(Self.supportedSchemaVersions))")
            }
        }
        let (canonical, payload) = try normalise(typeName, fields)
        let id = try optionalString(object["id"], field: "id") ?? CallIDs.derived(from: raw)
        let key = try optionalString(object["key"], field: "key") ?? routingKey(payload)
        let time = try eventTime(object["time_ms"], iso: object["time"])
        return Event(
            id: id, type: canonical, key: key, timeMilliseconds: time, payload: JSONValue.object(payload).jsonBytes,
            causationId: try optionalString(object["causation_id"], field: "causation_id"),
            correlationId: try optionalString(object["correlation_id"], field: "correlation_id"),
            source: try optionalString(object["source"], field: "source") ?? "ingress")
    }

    private func flat(_ object: [String: JSONValue], type: JSONValue, raw: [UInt8]) throws(Rejection) -> Event {
        let typeName = try validType(type, field: "event_type")
        let (canonical, payload) = try normalise(typeName, object.filter { !Self.envelopeFields.contains($0.key) })
        let id = try optionalString(object["event_id"], field: "event_id") ?? CallIDs.derived(from: raw)
        let time = try eventTime(object["time_ms"], iso: object["timestamp"])
        return Event(
            id: id, type: canonical, key: routingKey(payload), timeMilliseconds: time, payload: JSONValue.object(payload).jsonBytes,
            causationId: try optionalString(object["causation_id"], field: "causation_id"),
            correlationId: try optionalString(object["correlation_id"], field: "correlation_id"), source: "ingress")
    }

    /// The canonical name of `name` (an alias or canonical name), or `name` itself when
    /// unknown types are accepted; nil when the type would be rejected.
    public func catalogType(for name: String) -> String? {
        catalog.spec(for: name)?.type ?? (acceptUnknownTypes ? name : nil)
    }

    /// The canonical type and payload, by the catalog.
    private func normalise(_ typeName: String, _ payload: [String: JSONValue]) throws(Rejection) -> (String, [String: JSONValue]) {
        guard let spec = catalog.spec(for: typeName) else {
            if acceptUnknownTypes { return (typeName, payload) }
            throw Rejection(reason: "unknown event type '\(typeName.prefix(80))' (see docs/events.md; events.unknown_types: accept lets such events through)")
        }
        switch catalog.normalise(payload, as: spec) {
        case .success(let fields): return (spec.type, fields)
        case .failure(let rejection): throw rejection
        }
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
