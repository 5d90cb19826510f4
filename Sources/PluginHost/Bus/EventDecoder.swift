import PluginIPC
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
    /// The types installed plugins define: accepted beside the catalog's, held to their schemas.
    let definedTypes: EventTypeRegistry?

    /// The envelope schema versions this host reads.
    public static let supportedSchemaVersions: ClosedRange<Int> = 1...1
    static let envelopeFields: Set<String> = ["event_type", "timestamp", "event_id", "time_ms", "correlation_id", "causation_id", "schema_version", "source"]

    public init(
        maxEventBytes: Int, clock: any HostClock, catalog: EventCatalog = .standard, acceptUnknownTypes: Bool = false,
        definedTypes: EventTypeRegistry? = nil
    ) {
        self.definedTypes = definedTypes
        self.maxEventBytes = maxEventBytes
        self.clock = clock
        self.catalog = catalog
        self.acceptUnknownTypes = acceptUnknownTypes
    }

    public typealias Rejection = EventRejection

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
            guard let number = version.exactInteger, Self.supportedSchemaVersions.contains(Int(number)) else {
                throw Rejection(reason: "envelope schema_version \(version.jsonText) is not supported (this host reads \(Self.supportedSchemaVersions))")
            }
        }
        let (canonical, payload) = try normalise(typeName, fields)
        let id = try optionalString(object["id"], field: "id", nonEmpty: true) ?? CallIDs.derived(from: raw)
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
        let id = try optionalString(object["event_id"], field: "event_id", nonEmpty: true) ?? CallIDs.derived(from: raw)
        let time = try eventTime(object["time_ms"], iso: object["timestamp"])
        return Event(
            id: id, type: canonical, key: routingKey(payload), timeMilliseconds: time, payload: JSONValue.object(payload).jsonBytes,
            causationId: try optionalString(object["causation_id"], field: "causation_id"),
            correlationId: try optionalString(object["correlation_id"], field: "correlation_id"), source: "ingress")
    }

    /// The canonical name of `name` (an alias or canonical name), or `name` itself when
    /// unknown types are accepted; nil when the type would be rejected.
    public func catalogType(for name: String) -> String? {
        catalog.spec(for: name)?.type ?? (acceptUnknownTypes || definedTypes?.entry(for: name) != nil ? name : nil)
    }

    /// The canonical type and payload, by the catalog.
    private func normalise(_ typeName: String, _ payload: [String: JSONValue]) throws(Rejection) -> (String, [String: JSONValue]) {
        guard let spec = catalog.spec(for: typeName) else {
            if let definedTypes, definedTypes.entry(for: typeName) != nil {
                if let problem = definedTypes.problem(with: .object(payload), of: typeName) { throw Rejection(reason: problem) }
                return (typeName, payload)
            }
            if acceptUnknownTypes { return (typeName, payload) }
            throw Rejection(reason: "unknown event type '\(typeName.prefix(80))': neither in the catalog nor defined by an installed plugin (see docs/events.md; pluginctl events lists them)")
        }
        switch catalog.normalise(payload, as: spec) {
        case .success(let fields): return (spec.type, fields)
        case .failure(let rejection): throw rejection
        }
    }

    private func validType(_ value: JSONValue, field: String) throws(Rejection) -> String {
        guard let name = value.stringValue else { throw Rejection(reason: "\"\(field)\" must be a string") }
        guard Names.isEventType(name) else {
            throw Rejection(reason: "\"\(field)\" '\(name.prefix(80))' is not a valid event type name")
        }
        return name
    }

    /// Envelope ids and names: text of at most 256 bytes without control characters, or a
    /// whole number (the original's numeric ids) within 2^53.
    private func optionalString(_ value: JSONValue?, field: String, nonEmpty: Bool = false) throws(Rejection) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?:
            if nonEmpty, text.isEmpty { throw Rejection(reason: "\"\(field)\" must not be empty") }
            guard text.utf8.count <= Self.maximumIdentifierBytes else {
                throw Rejection(reason: "\"\(field)\" is longer than \(Self.maximumIdentifierBytes) bytes")
            }
            guard !Self.containsControlCharacter(text) else {
                throw Rejection(reason: "\"\(field)\" contains a control character")
            }
            return text
        case let number? where number.exactInteger != nil: return String(number.exactInteger!)
        default: throw Rejection(reason: "\"\(field)\" must be a string (or a whole number within 2^53)")
        }
    }

    static let maximumIdentifierBytes = 256

    /// Whether `text` holds a control character (general category Cc: U+0000-U+001F,
    /// U+007F-U+009F), checked on the UTF-8 bytes: the Unicode property lookup per scalar was
    /// 2% of the host's CPU.
    static func containsControlCharacter(_ text: String) -> Bool {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && (0x80...0x9F).contains(byte)) { return true }
            previous = byte
        }
        return false
    }

    /// Basket id, else terminal id, else empty: the ordering key.
    func routingKey(_ object: [String: JSONValue]) -> String {
        for field in ["basket_id", "terminal_id"] {
            switch object[field] {
            case .string(let text)? where !text.isEmpty: return text
            case let number? where number.exactInteger != nil: return String(number.exactInteger!)
            default: continue
            }
        }
        return ""
    }

    private func eventTime(_ milliseconds: JSONValue?, iso: JSONValue?) throws(Rejection) -> Int64 {
        if let milliseconds, milliseconds != .null {
            guard let number = milliseconds.exactInteger, number >= 0 else {
                throw Rejection(reason: "\"time_ms\" must be a whole number of milliseconds since 1970 (0 to 2^53), got \(milliseconds.jsonText.prefix(40))")
            }
            return number
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

    /// ISO 8601 date-times (`2026-11-25T09:01:10`, optional fraction of any length, `Z` or
    /// `+HH:MM`/`+HHMM`; a time without zone is UTC, as the original's Python `isoformat()`
    /// wrote them), in milliseconds. Parsed by hand: it runs for every event, and a
    /// formatter or regular expression cost more than the rest of the decoding (measured).
    static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int64? {
            guard index + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<digits {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
                index += 1
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2),
            index < bytes.count, bytes[index] == 84 || bytes[index] == 116 || bytes[index] == 32
        else { return nil }
        index += 1
        guard let hour = number(2), expect(58), let minute = number(2), expect(58), let second = number(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var milliseconds: Int64 = 0
        if expect(46) {
            var scale: Int64 = 100
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                milliseconds += Int64(bytes[index] - 48) * scale
                scale /= 10
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
        }
        var offsetMinutes: Int64 = 0
        if index < bytes.count {
            if bytes[index] == 90 || bytes[index] == 122 {
                index += 1
            } else if bytes[index] == 43 || bytes[index] == 45 {
                let sign: Int64 = bytes[index] == 45 ? -1 : 1
                index += 1
                guard let offsetHours = number(2) else { return nil }
                _ = expect(58)
                guard let offsetRest = number(2) else { return nil }
                offsetMinutes = sign * (offsetHours * 60 + offsetRest)
            }
        }
        guard index == bytes.count else { return nil }
        // Days since 1970-01-01 from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1000 + milliseconds
    }
}

enum CallIDs {
    /// A stable id for an input that carries none.
    static func derived(from raw: [UInt8]) -> String { PluginCall.derivedID(String(decoding: raw, as: UTF8.self)) }
}
