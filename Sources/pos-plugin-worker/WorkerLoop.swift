import PluginABI
import PluginIPC

#if canImport(Glibc)
import Glibc
#endif

/// Serves the host's requests for one plugin instance. Single-threaded: the host never sends
/// a request before the previous call's final frame.
final class WorkerLoop {
    let channel: FrameChannel
    let services: WorkerServices
    private var vtable: UnsafePointer<pos_plugin_vtable>?
    private var instance: UnsafeMutableRawPointer?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: WorkerLoop.errorCapacity)
    static let errorCapacity = 1024

    init(channel: FrameChannel) {
        self.channel = channel
        self.services = WorkerServices(channel: channel)
    }

    func run() -> Never {
        while true {
            switch channel.receive(timeoutMilliseconds: -1) {
            case .timedOut: continue
            case .closed: exit(0)  // the host went away: nothing to report to
            case .frame(let kind, let payload):
                var reader = WireReader(payload)
                do {
                    try serve(kind, &reader)
                } catch {
                    fail("protocol error in message \(kind): \(error)", status: 76)
                }
            }
        }
    }

    private func serve(_ kind: UInt8, _ reader: inout WireReader) throws {
        guard let message = HostMessage(rawValue: kind) else { throw WireError("unknown message") }
        switch message {
        case .load: try load(path: reader.string())
        case .create: try create(settings: reader.string(), clock: reader.i64())
        case .reconfigure: try reconfigure(settings: reader.string(), clock: reader.i64())
        case .batch: try handleBatch(&reader)
        case .query: try query(name: reader.string(), request: reader.data(), clock: reader.i64())
        case .forgetCache: services.forgetCache()
        case .shutdown:
            if let vtable, let instance { vtable.pointee.destroy(instance) }
            exit(0)
        case .stateValue, .scanResult: throw WireError("an answer arrived outside a service request")
        }
    }

    private func load(path: String) throws {
        switch PluginOpener.open(path: path) {
        case .failure(let failure):
            var frame = FrameChannel.frame(WorkerMessage.loadFailed.rawValue)
            frame.u8(failure.stage.rawValue)
            frame.string(failure.detail)
            try channel.send(frame)
        case .success(let descriptor):
            let raw = RawDescriptor(reading: descriptor.pointer)
            // Only a descriptor the host can accept is ever called; the host judges the rest.
            if raw.complete, raw.hasVTable, raw.hasCreate, raw.hasDestroy, raw.hasHandleEvent {
                vtable = descriptor.pointer.pointee.vtable
            }
            var frame = FrameChannel.frame(WorkerMessage.descriptor.rawValue, capacity: 1024)
            raw.encode(into: &frame)
            try channel.send(frame)
        }
    }

    /// Runs `body` with a fresh call and error buffer; returns its result and the plugin's message.
    private func withCall<R>(_ call: WorkerCall, _ body: (OpaquePointer, UnsafeMutablePointer<pos_error>) -> R) -> (R, String) {
        errorBuffer[0] = 0
        var error = pos_error(struct_size: UInt32(MemoryLayout<pos_error>.size), message: errorBuffer, capacity: Self.errorCapacity)
        let result = withExtendedLifetime(call) { body(OpaquePointer(Unmanaged.passUnretained(call).toOpaque()), &error) }
        errorBuffer[Self.errorCapacity - 1] = 0
        return (result, String(cString: errorBuffer))
    }

    private func sendDone(ok: Bool, message: String, effects: CallEffects = CallEffects()) throws {
        var frame = FrameChannel.frame(WorkerMessage.done.rawValue)
        frame.bool(ok)
        frame.string(message)
        effects.encode(into: &frame)
        try channel.send(frame)
    }

    private func create(settings: String, clock: Int64) throws {
        guard let vtable else { return try sendDone(ok: false, message: "no usable plugin is loaded") }
        let call = WorkerCall(kind: .create, clock: clock)
        var created: UnsafeMutableRawPointer?
        let (status, message) = withCall(call) { handle, error in
            settings.withCString { vtable.pointee.create(UnsafePointer(services.table), handle, $0, strlen($0), &created, error) }
        }
        guard status == POS_STATUS_OK, let created else {
            return try sendDone(ok: false, message: message.isEmpty ? "the plugin gave no reason" : message)
        }
        if let old = instance { vtable.pointee.destroy(old) }
        instance = created
        services.remember(call)
        try sendDone(ok: true, message: "", effects: call.effects)
    }

    private func reconfigure(settings: String, clock: Int64) throws {
        guard let vtable, let current = instance else { return try sendDone(ok: false, message: "no instance") }
        guard let reconfigureFunction = vtable.pointee.reconfigure else {
            // No reconfigure: the host re-creates the instance with `create` instead.
            return try sendDone(ok: false, message: "the plugin cannot be reconfigured live")
        }
        let call = WorkerCall(kind: .reconfigure, clock: clock)
        let (status, message) = withCall(call) { handle, error in
            settings.withCString { reconfigureFunction(current, handle, $0, strlen($0), error) }
        }
        try sendDone(ok: status == POS_STATUS_OK, message: status == POS_STATUS_OK ? "" : (message.isEmpty ? "no reason given" : message))
    }

    private func handleBatch(_ reader: inout WireReader) throws {
        let flushInterval = UInt64(try reader.u32()) * 1000
        let count = Int(try reader.u32())
        var events: [WireEvent] = []
        events.reserveCapacity(count)
        for _ in 0..<count { events.append(try WireEvent(from: &reader)) }
        guard let vtable, let instance else {
            var frame = FrameChannel.frame(WorkerMessage.eventResult.rawValue)
            EventResult(outcome: .retry, message: "the worker has no plugin instance", nanoseconds: 0, effects: CallEffects()).encode(into: &frame)
            try channel.send(frame)
            return try channel.send(WorkerMessage.batchEnd.rawValue)
        }
        var lastFlush = FrameChannel.monotonicNanoseconds()
        for event in events {
            let call = WorkerCall(kind: .handleEvent, clock: event.clockMilliseconds)
            call.payload = event.payload
            let started = FrameChannel.monotonicNanoseconds()
            let (result, message) = withCall(call) { handle, error in
                Self.withEventStruct(event) { vtable.pointee.handle_event(instance, handle, $0, error) }
            }
            let elapsed = FrameChannel.monotonicNanoseconds() - started
            var outcome: EventResult.Outcome
            switch result {
            case POS_HANDLE_OK: outcome = .handled
            case POS_HANDLE_REJECT: outcome = .reject
            default: outcome = .retry
            }
            if call.storeUnavailable { outcome = .unavailable }
            var frame = FrameChannel.frame(WorkerMessage.eventResult.rawValue, capacity: 256 + call.effectsSize)
            if outcome == .handled {
                services.remember(call)
                EventResult(outcome: .handled, message: "", nanoseconds: elapsed, effects: call.effects).encode(into: &frame)
            } else {
                EventResult(outcome: outcome, message: message, nanoseconds: elapsed, effects: CallEffects()).encode(into: &frame)
            }
            channel.enqueue(frame)
            if started + elapsed - lastFlush >= flushInterval {
                try channel.flush()
                lastFlush = FrameChannel.monotonicNanoseconds()
            }
            if outcome != .handled { break }
        }
        try channel.send(WorkerMessage.batchEnd.rawValue)
    }

    static func withEventStruct<R>(_ event: WireEvent, _ body: (UnsafePointer<pos_event>) -> R) -> R {
        var id = event.id, type = event.type, key = event.key
        return id.withUTF8 { id in
            type.withUTF8 { type in
                key.withUTF8 { key in
                    event.payload.withUnsafeBufferPointer { payload in
                        id.withMemoryRebound(to: CChar.self) { id in
                            type.withMemoryRebound(to: CChar.self) { type in
                                key.withMemoryRebound(to: CChar.self) { key in
                                    var raw = pos_event(
                                        struct_size: UInt32(MemoryLayout<pos_event>.size), id: id.baseAddress, id_len: id.count,
                                        type: type.baseAddress, type_len: type.count, key: key.baseAddress, key_len: key.count,
                                        event_time_ms: event.timeMilliseconds, payload: payload.baseAddress, payload_len: payload.count,
                                        attempt: event.attempt)
                                    return body(&raw)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func query(name: String, request: [UInt8], clock: Int64) throws {
        var frame = FrameChannel.frame(WorkerMessage.answer.rawValue)
        guard let vtable, let instance, let queryFunction = vtable.pointee.query else {
            frame.u8(1)
            frame.data([])
            frame.string(name)
            return try channel.send(frame)
        }
        let call = WorkerCall(kind: .query, clock: clock)
        let output = QueryOutput()
        let (status, message) = withCall(call) { handle, error in
            withExtendedLifetime(output) {
                var writer = pos_writer(
                    struct_size: UInt32(MemoryLayout<pos_writer>.size), context: Unmanaged.passUnretained(output).toOpaque(),
                    write: { context, bytes, length in
                        let output = Unmanaged<QueryOutput>.fromOpaque(context!).takeUnretainedValue()
                        guard output.bytes.count + length <= QueryOutput.limit else { return POS_STATUS_ERROR }
                        if let bytes, length > 0 { output.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length)) }
                        return POS_STATUS_OK
                    })
                return name.withCString { cName in
                    request.withUnsafeBufferPointer { queryFunction(instance, handle, cName, $0.baseAddress, $0.count, &writer, error) }
                }
            }
        }
        switch status {
        case POS_STATUS_OK: frame.u8(0)
        case POS_STATUS_NOT_FOUND: frame.u8(1)
        default: frame.u8(2)
        }
        frame.data(output.bytes)
        frame.string(message)
        try channel.send(frame)
    }
}

final class QueryOutput {
    static let limit = PluginLimits.queryResponseBytes
    var bytes: [UInt8] = []
}
