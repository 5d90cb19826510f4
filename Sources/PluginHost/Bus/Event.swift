/// Where an event was read from on the bus (for committing its offset once it is handled).
public struct EventPosition: Sendable, Equatable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// An event as the host routes it: envelope fields plus the JSON payload bytes.
public struct Event: Sendable, Equatable {
    /// Unique id (UUID text for events from the bus or emitted by plugins).
    public var id: String
    /// Canonical type, such as `ITEM_ADDED`.
    public var type: String
    /// Ordering key: basket id, else terminal id.
    public var key: String
    /// Event time, milliseconds since the Unix epoch.
    public var timeMilliseconds: Int64
    /// A JSON object, UTF-8.
    public var payload: [UInt8]
    /// The id of the event that caused this one (set on events emitted by plugins).
    public var causationId: String?
    /// The id shared by every event of one business flow (a basket's, a shift's).
    public var correlationId: String?
    /// Who produced it: "ingress" or "plugin:<name>".
    public var source: String?
    /// Where it was read from, when it came from Kafka.
    public var position: EventPosition?
    /// For events emitted by plugins: where they sort among the events they follow (their
    /// cause's order id, the emitter and the emission's index). Nil: the event's id.
    public var orderId: String?

    /// The event's place in the total order the host delivers in (see ``OrderKey``).
    public var orderKey: OrderKey { OrderKey(time: timeMilliseconds, id: orderId ?? id) }

    public init(
        id: String, type: String, key: String, timeMilliseconds: Int64, payload: [UInt8],
        causationId: String? = nil, correlationId: String? = nil, source: String? = nil
    ) {
        self.id = id
        self.type = type
        self.key = key
        self.timeMilliseconds = timeMilliseconds
        self.payload = payload
        self.causationId = causationId
        self.correlationId = correlationId
        self.source = source
    }

    /// The event as one JSON line (payload embedded as an object when it parses).
    public var jsonLine: String {
        var object: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "key": .string(key), "time_ms": .number(Double(timeMilliseconds)),
            "payload": (try? JSONValue.parse(payload)) ?? .string(String(decoding: payload, as: UTF8.self)),
        ]
        if let causationId { object["causation_id"] = .string(causationId) }
        if let correlationId { object["correlation_id"] = .string(correlationId) }
        if let source { object["source"] = .string(source) }
        return JSONValue.object(object).jsonText
    }
}
