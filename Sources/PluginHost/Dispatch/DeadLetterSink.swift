import Foundation
import Synchronization

/// An event that will not be handled, with why. Written for plugin failures (rejected, retries
/// exhausted) and for input that could not even become an event (malformed).
public struct DeadLetterRecord: Codable, Sendable, Equatable {
    public enum Reason: String, Codable, Sendable {
        /// The plugin returned "reject" (poison).
        case rejected
        /// The plugin kept asking for a retry until max_attempts.
        case retriesExhausted = "retries_exhausted"
        /// The input was not a valid event (not JSON, too large, bad UTF-8, bad envelope).
        case malformed
    }

    public var timeMilliseconds: Int64
    /// The plugin that gave up on the event; nil for malformed input.
    public var plugin: String?
    public var reason: Reason
    public var error: String
    public var attempts: Int
    /// The event, when there is one.
    public var eventId: String?
    public var eventType: String?
    public var eventKey: String?
    public var eventTimeMilliseconds: Int64?
    /// The payload (or for malformed input the raw record) as text; base64 when not UTF-8.
    public var payload: String
    public var payloadEncoding: String
    /// Where malformed input came from ("file:line" or "topic/partition@offset").
    public var origin: String?
    /// The bus position of the event or input, when it came from Kafka.
    public var originalTopic: String?
    public var originalPartition: Int32?
    public var originalOffset: Int64?
    /// The full event envelope (not serialised into the JSON record; used by the Kafka sink).
    public var envelope: [UInt8]?

    enum CodingKeys: String, CodingKey {
        case plugin, reason, error, attempts, payload, origin
        case timeMilliseconds = "time_ms"
        case eventId = "event_id"
        case eventType = "event_type"
        case eventKey = "event_key"
        case eventTimeMilliseconds = "event_time_ms"
        case payloadEncoding = "payload_encoding"
        case originalTopic = "original_topic"
        case originalPartition = "original_partition"
        case originalOffset = "original_offset"
    }

    public init(plugin: String, reason: Reason, error: String, attempts: Int, event: Event, timeMilliseconds: Int64) {
        self.timeMilliseconds = timeMilliseconds
        self.plugin = plugin
        self.reason = reason
        self.error = error
        self.attempts = attempts
        self.eventId = event.id
        self.eventType = event.type
        self.eventKey = event.key
        self.eventTimeMilliseconds = event.timeMilliseconds
        (payload, payloadEncoding) = Self.encode(event.payload)
        origin = nil
        originalTopic = event.position?.topic
        originalPartition = event.position?.partition
        originalOffset = event.position?.offset
        envelope = EventHeaders.envelope(event)
    }

    public init(malformed raw: [UInt8], error: String, origin: String, position: EventPosition? = nil, timeMilliseconds: Int64) {
        self.timeMilliseconds = timeMilliseconds
        plugin = nil
        reason = .malformed
        self.error = error
        attempts = 0
        (payload, payloadEncoding) = Self.encode(raw)
        self.origin = origin
        originalTopic = position?.topic
        originalPartition = position?.partition
        originalOffset = position?.offset
    }

    static func encode(_ bytes: [UInt8]) -> (String, String) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, "utf8") }
        return (Data(bytes).base64EncodedString(), "base64")
    }
}

/// Where dead letters go. The Kafka bridge adds a `<topic>.dlq` implementation.
public protocol DeadLetterSink: Sendable {
    func deadLetter(_ record: DeadLetterRecord) throws
}

public final class InMemoryDeadLetterSink: DeadLetterSink {
    private let collected = Mutex<[DeadLetterRecord]>([])
    public init() {}
    public func deadLetter(_ record: DeadLetterRecord) { collected.withLock { $0.append(record) } }
    public var records: [DeadLetterRecord] { collected.withLock { $0 } }
}

/// One JSON line per dead letter, appended to a file.
public final class JSONLinesDeadLetterSink: DeadLetterSink {
    private let writer: JSONLinesFileWriter
    public init(path: String) throws { writer = try JSONLinesFileWriter(path: path) }

    public func deadLetter(_ record: DeadLetterRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try writer.append(lines: [String(decoding: try encoder.encode(record), as: UTF8.self)])
    }
}
