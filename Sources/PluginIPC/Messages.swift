/// The messages of the worker protocol (docs/worker-protocol.md). A call is one request frame
/// from the host, then any number of service requests from the worker (each answered before the
/// worker goes on), then the call's final frame.
public enum HostMessage: UInt8, Sendable {
    /// `string path` -> descriptor | loadFailed
    case load = 1
    /// `string settings, i64 clock` -> done (with the writes of create)
    case create = 2
    /// `u32 flush interval in microseconds, u32 count, count x event` -> count' x eventResult
    /// (stopping after the first that is not ok), then batchEnd. The worker sends results
    /// together at the end, or earlier once the interval has passed since its last send (so a
    /// silence longer than the host's deadline means one event is taking that long), and always
    /// before a service request (so the host's state is current when it answers).
    case batch = 3
    /// `string name, data request, i64 clock` -> answer
    case query = 4
    /// `string settings, i64 clock` -> done
    case reconfigure = 5
    /// Answer to stateGet: `u8 status (0 absent, 1 found, 2 store unavailable), data value if found`
    case stateValue = 6
    /// Answer to stateScan: `u8 status (0 ok, 2 store unavailable), u32 count, count x (data key, data value)`
    case scanResult = 7
    /// Drop every cached state value (the host could not commit what the worker reported).
    case forgetCache = 8
    /// Destroy the instance and exit 0.
    case shutdown = 9
}

public enum WorkerMessage: UInt8, Sendable {
    case descriptor = 101
    /// `string kind, string reason`
    case loadFailed = 102
    /// `bool ok, string message, effects`
    case done = 103
    case eventResult = 104
    case batchEnd = 105
    /// `u8 status (0 ok, 1 unknown query, 2 failed), data answer, string message`
    case answer = 106
    /// `data key`
    case stateGet = 107
    /// `data prefix`
    case stateScan = 108
    /// `u8 level (pos_log_level), string message` (one-way)
    case log = 109
}

/// An event as the worker receives it.
public struct WireEvent: Sendable {
    public var id: String
    public var type: String
    public var key: String
    public var timeMilliseconds: Int64
    public var payload: [UInt8]
    public var attempt: UInt32
    /// The host clock when the batch was sent: what `clock_now_ms` answers during the call.
    public var clockMilliseconds: Int64

    public init(id: String, type: String, key: String, timeMilliseconds: Int64, payload: [UInt8], attempt: UInt32, clockMilliseconds: Int64) {
        self.id = id
        self.type = type
        self.key = key
        self.timeMilliseconds = timeMilliseconds
        self.payload = payload
        self.attempt = attempt
        self.clockMilliseconds = clockMilliseconds
    }

    public func encode(into writer: inout WireWriter) {
        writer.string(id)
        writer.string(type)
        writer.string(key)
        writer.i64(timeMilliseconds)
        writer.data(payload)
        writer.u32(attempt)
        writer.i64(clockMilliseconds)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        id = try reader.string()
        type = try reader.string()
        key = try reader.string()
        timeMilliseconds = try reader.i64()
        payload = try reader.data()
        attempt = try reader.u32()
        clockMilliseconds = try reader.i64()
    }
}

/// What one successful plugin call did through the host services: applied by the host only
/// when the call succeeded (the same transaction rule as in-process).
public struct CallEffects: Sendable, Equatable {
    /// In call order; a nil value deletes the key.
    public var writes: [(key: [UInt8], value: [UInt8]?)] = []
    public var emitted: [(type: String, key: String, payload: [UInt8])] = []
    public var counters: [(name: String, delta: Int64)] = []

    public init() {}

    public var isEmpty: Bool { writes.isEmpty && emitted.isEmpty && counters.isEmpty }

    public func encode(into writer: inout WireWriter) {
        writer.u32(UInt32(writes.count))
        for write in writes {
            writer.data(write.key)
            writer.bool(write.value != nil)
            if let value = write.value { writer.data(value) }
        }
        writer.u32(UInt32(emitted.count))
        for event in emitted {
            writer.string(event.type)
            writer.string(event.key)
            writer.data(event.payload)
        }
        writer.u32(UInt32(counters.count))
        for counter in counters {
            writer.string(counter.name)
            writer.i64(counter.delta)
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        for _ in 0..<(try reader.u32()) {
            let key = try reader.data()
            writes.append((key, try reader.bool() ? try reader.data() : nil))
        }
        for _ in 0..<(try reader.u32()) {
            emitted.append((try reader.string(), try reader.string(), try reader.data()))
        }
        for _ in 0..<(try reader.u32()) {
            counters.append((try reader.string(), try reader.i64()))
        }
    }

    public static func == (lhs: CallEffects, rhs: CallEffects) -> Bool {
        lhs.writes.elementsEqual(rhs.writes) { $0.key == $1.key && $0.value == $1.value }
            && lhs.emitted.elementsEqual(rhs.emitted) { $0.type == $1.type && $0.key == $1.key && $0.payload == $1.payload }
            && lhs.counters.elementsEqual(rhs.counters) { $0.name == $1.name && $0.delta == $1.delta }
    }
}

/// The outcome of one event of a batch.
public struct EventResult: Sendable, Equatable {
    public enum Outcome: UInt8, Sendable {
        /// `unavailable`: the state store could not answer during the call (not the plugin's
        /// fault): the event is offered again later without spending an attempt.
        case handled = 0, retry = 1, reject = 2, unavailable = 3
    }

    public var outcome: Outcome
    public var message: String
    public var nanoseconds: UInt64
    public var effects: CallEffects

    public init(outcome: Outcome, message: String, nanoseconds: UInt64, effects: CallEffects) {
        self.outcome = outcome
        self.message = message
        self.nanoseconds = nanoseconds
        self.effects = effects
    }

    public func encode(into writer: inout WireWriter) {
        writer.u8(outcome.rawValue)
        writer.string(message)
        writer.u64(nanoseconds)
        effects.encode(into: &writer)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        guard let outcome = Outcome(rawValue: try reader.u8()) else { throw WireError("unknown event outcome") }
        self.outcome = outcome
        message = try reader.string()
        nanoseconds = try reader.u64()
        effects = try CallEffects(from: &reader)
    }
}
