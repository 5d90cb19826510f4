import Crypto
import Foundation

/// Headers every event carries on the bus, so routing never has to parse a payload.
enum EventHeaders {
    static let type = "pos.type"
    static let id = "pos.id"
    static let schemaVersion = "pos.schema_version"
    static let causationId = "pos.causation_id"
    static let correlationId = "pos.correlation_id"
    static let source = "pos.source"

    static func of(_ event: Event) -> [(String, [UInt8])] {
        func text(_ value: String) -> [UInt8] { Array(HostLogHandler.escaped(value).utf8) }
        var headers: [(String, [UInt8])] = [(type, text(event.type)), (id, text(event.id)), (schemaVersion, Array("1".utf8))]
        if let value = event.causationId { headers.append((causationId, text(value))) }
        if let value = event.correlationId { headers.append((correlationId, text(value))) }
        if let value = event.source { headers.append((source, text(value))) }
        return headers
    }

    /// The envelope v1 of `event` as produced on the bus.
    static func envelope(_ event: Event) -> [UInt8] {
        var object: [String: JSONValue] = [
            "id": .string(event.id), "type": .string(event.type), "schema_version": .number(1), "key": .string(event.key),
            "time_ms": .number(Double(event.timeMilliseconds)),
            "payload": (try? JSONValue.parse(event.payload)) ?? .object([:]),
        ]
        if let value = event.causationId { object["causation_id"] = .string(value) }
        if let value = event.correlationId { object["correlation_id"] = .string(value) }
        if let value = event.source { object["source"] = .string(value) }
        return JSONValue.object(object).jsonBytes
    }
}

/// Produces events emitted by plugins to the bus (envelope v1, keyed, with headers).
public final class KafkaEventSink: EmittedEventSink {
    let producer: KafkaProducer
    let topic: String

    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    public func publish(_ events: [Event]) throws {
        for event in events {
            try producer.produce(topic: topic, key: Array(event.key.utf8), value: EventHeaders.envelope(event), headers: EventHeaders.of(event))
        }
    }

    /// Waits for every queued message's delivery; throws if any failed meanwhile.
    public func flush() throws {
        let failedBefore = producer.failedCount
        try producer.flush()
        guard producer.failedCount == failedBefore else { throw HostError("\(producer.failedCount - failedBefore) emitted events were not delivered") }
    }
}

/// Dead letters to `<topic><suffix>` with headers naming the plugin, the reason, the error, the
/// attempts, and the original topic/partition/offset (as Kafka Connect's dead-letter queue).
/// The value is the event's envelope (so it can be re-published as is) or, for malformed
/// input, the original bytes.
public final class KafkaDeadLetterSink: DeadLetterSink {
    let producer: KafkaProducer
    let suffix: String
    let defaultTopic: String

    public init(producer: KafkaProducer, suffix: String, defaultTopic: String) {
        self.producer = producer
        self.suffix = suffix
        self.defaultTopic = defaultTopic
    }

    public func deadLetter(_ record: DeadLetterRecord) throws {
        let originalTopic = record.originalTopic ?? defaultTopic
        var headers: [(String, [UInt8])] = [
            ("dlq.reason", Array(record.reason.rawValue.utf8)), ("dlq.error", Array(HostLogHandler.escaped(record.error).utf8)),
            ("dlq.attempts", Array(String(record.attempts).utf8)), ("dlq.time_ms", Array(String(record.timeMilliseconds).utf8)),
            ("dlq.original.topic", Array(originalTopic.utf8)),
        ]
        // Header values never carry raw control bytes (a NUL ends a C string in many tools).
        if let plugin = record.plugin { headers.append(("dlq.plugin", Array(HostLogHandler.escaped(plugin).utf8))) }
        if let partition = record.originalPartition { headers.append(("dlq.original.partition", Array(String(partition).utf8))) }
        if let offset = record.originalOffset { headers.append(("dlq.original.offset", Array(String(offset).utf8))) }
        if let type = record.eventType { headers.append((EventHeaders.type, Array(HostLogHandler.escaped(type).utf8))) }
        if let id = record.eventId { headers.append((EventHeaders.id, Array(HostLogHandler.escaped(id).utf8))) }
        var value: [UInt8]
        if let envelope = record.envelope {
            value = envelope
        } else if record.payloadEncoding == "base64" {
            value = Data(base64Encoded: record.payload).map(Array.init) ?? Array(record.payload.utf8)
        } else {
            value = Array(record.payload.utf8)
        }
        if value.count > maximumValueBytes {
            // Too large for the topic (the broker refuses records over message.max.bytes): keep a
            // prefix, with the size and hash of the whole; the full bytes stay at the original
            // position, which the headers name.
            headers.append(("dlq.truncated", Array("true".utf8)))
            headers.append(("dlq.original.size", Array(String(value.count).utf8)))
            headers.append(("dlq.original.sha256", Array(SHA256.hash(data: value).map { Self.hex($0) }.joined().utf8)))
            value = Array(value.prefix(maximumValueBytes))
        }
        try producer.produce(topic: originalTopic + suffix, key: record.eventKey.map { Array($0.utf8) }, value: value, headers: headers)
    }

    /// The largest dead-letter value written whole: well under Kafka's default 1 MB record limit,
    /// leaving room for the headers.
    public let maximumValueBytes = 256 * 1024

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
    }
}
