import PluginABI
import PluginIPC

#if canImport(Glibc)
import Glibc
#endif

/// One host->plugin call in the worker: what the `pos_call *` handle points to. Collects the
/// call's state writes, emitted events and counters, which reach the host only if the call
/// succeeds (the same transaction rule as in-process).
final class WorkerCall {
    enum Kind { case create, reconfigure, handleEvent, query }

    let kind: Kind
    let clock: Int64
    /// Latest write per key (nil = deleted), for reads within the call.
    var pending: [[UInt8]: [UInt8]?] = [:]
    var order: [[UInt8]] = []
    var emitted: [(type: String, key: String, payload: [UInt8])] = []
    var counters: [String: Int64] = [:]
    var effectsSize = 0
    /// The host's state store failed to answer during this call: its outcome cannot be trusted.
    var storeUnavailable = false
    /// The handled event's payload, for the field-access services (nil in other calls).
    var payload: [UInt8]?

    init(kind: Kind, clock: Int64) {
        self.kind = kind
        self.clock = clock
    }

    var mayWriteState: Bool { kind == .create || kind == .handleEvent }

    func write(_ key: [UInt8], _ value: [UInt8]?) {
        if pending.updateValue(value, forKey: key) == nil { order.append(key) }
        effectsSize += key.count + (value?.count ?? 0) + 9
    }

    var effects: CallEffects {
        var effects = CallEffects()
        effects.writes = order.map { ($0, pending[$0]!) }
        effects.emitted = emitted
        effects.counters = counters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return effects
    }
}

/// The host services as the worker provides them: state reads go to a local cache, then to the
/// host over the channel; everything else is collected in the call.
///
/// The cache is sound because this worker is the only writer of its plugin's namespace on this
/// host: the host applies the writes of each successful call (reported with its result) before
/// it reads the next request. When the host cannot apply them it sends `forgetCache`.
final class WorkerServices {
    let channel: FrameChannel
    private(set) var table: UnsafeMutablePointer<pos_host_services>
    /// Known values (nil: known to be absent).
    private var cache: [[UInt8]: [UInt8]?] = [:]
    private var cacheBytes = 0
    static let cacheLimitBytes = 32 << 20
    static let cacheLimitEntries = 200_000

    init(channel: FrameChannel) {
        self.channel = channel
        table = .allocate(capacity: 1)
        table.initialize(
            to: pos_host_services(
                struct_size: UInt32(MemoryLayout<pos_host_services>.size),
                abi_major: UInt16(POS_PLUGIN_ABI_MAJOR), abi_minor: UInt16(POS_PLUGIN_ABI_MINOR),
                log: Self.log, emit: Self.emit, state_get: Self.stateGet, state_put: Self.statePut,
                state_delete: Self.stateDelete, state_scan: Self.stateScan, clock_now_ms: Self.clockNow,
                metric_add: Self.metricAdd,
                event_get_string: { PayloadFieldServices.string(WorkerServices.payload($0), $1, $2, $3) },
                event_get_int64: { PayloadFieldServices.int64(WorkerServices.payload($0), $1, $2, $3) },
                event_get_double: { PayloadFieldServices.double(WorkerServices.payload($0), $1, $2, $3) },
                event_get_bool: { PayloadFieldServices.bool(WorkerServices.payload($0), $1, $2, $3) },
                event_get_length: { PayloadFieldServices.length(WorkerServices.payload($0), $1, $2, $3) },
                event_get_json: { PayloadFieldServices.json(WorkerServices.payload($0), $1, $2, $3) }))
        Self.current = self
    }

    /// The worker serves one plugin on one thread: the C callbacks find the services here.
    nonisolated(unsafe) static var current: WorkerServices!

    func forgetCache() {
        cache.removeAll()
        cacheBytes = 0
    }

    /// Records the writes of a successful call as the new known values.
    func remember(_ call: WorkerCall) {
        for (key, value) in call.pending { store(key, value) }
    }

    private func store(_ key: [UInt8], _ value: [UInt8]?) {
        if cacheBytes > Self.cacheLimitBytes || cache.count > Self.cacheLimitEntries { forgetCache() }
        cache[key] = .some(value)
        cacheBytes += key.count + (value?.count ?? 0) + 32
    }

    enum Read {
        case value([UInt8]?)
        case unavailable
    }

    /// The value of `key` as the host's store has it after every call reported so far.
    func read(_ key: [UInt8]) -> Read {
        if let known = cache[key] { return .value(known) }
        var frame = FrameChannel.frame(WorkerMessage.stateGet.rawValue, capacity: key.count + 8)
        frame.data(key)
        let answer = request(frame, expecting: .stateValue)
        do {
            var reader = WireReader(answer)
            let status = try reader.u8()
            if status == 2 { return .unavailable }
            let value: [UInt8]? = status == 1 ? try reader.data() : nil
            store(key, value)
            return .value(value)
        } catch {
            fail("malformed state value: \(error)", status: 76)
        }
    }

    func scan(_ prefix: [UInt8]) -> [(key: [UInt8], value: [UInt8])]? {
        var frame = FrameChannel.frame(WorkerMessage.stateScan.rawValue, capacity: prefix.count + 8)
        frame.data(prefix)
        var reader = WireReader(request(frame, expecting: .scanResult))
        do {
            if try reader.u8() == 2 { return nil }
            var entries: [(key: [UInt8], value: [UInt8])] = []
            for _ in 0..<(try reader.u32()) { entries.append((try reader.data(), try reader.data())) }
            return entries
        } catch {
            fail("malformed scan result: \(error)", status: 76)
        }
    }

    /// Sends a service request and waits for its answer. The host answers every request; if it
    /// is gone there is nobody to work for, so the worker exits.
    private func request(_ frame: WireWriter, expecting expected: HostMessage) -> [UInt8] {
        do { try channel.send(frame) } catch { exit(0) }
        switch channel.receive(timeoutMilliseconds: -1) {
        case .frame(let kind, let payload) where kind == expected.rawValue: return payload
        case .frame(let kind, _): fail("expected answer \(expected) but got message \(kind)", status: 76)
        case .closed, .timedOut: exit(0)
        }
    }

    private func sendLog(level: UInt8, message: String) {
        var frame = FrameChannel.frame(WorkerMessage.log.rawValue, capacity: message.utf8.count + 8)
        frame.u8(level)
        frame.string(message)
        // With the call's results, in order; warnings and errors at once, so they survive a crash.
        if level >= UInt8(POS_LOG_WARNING.rawValue) {
            do { try channel.send(frame) } catch { exit(0) }
        } else {
            channel.enqueue(frame)
        }
    }

    // MARK: - The C table

    static func payload(_ handle: OpaquePointer?) -> [UInt8]? {
        guard let call = call(handle), call.kind == .handleEvent else { return nil }
        return call.payload
    }

    static func call(_ handle: OpaquePointer?) -> WorkerCall? {
        guard let handle else { return nil }
        return Unmanaged<WorkerCall>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    static func bytes(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> [UInt8] { CBuffers.bytes(pointer, length) }

    static func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String { CBuffers.text(pointer, length) }

    static let log: @convention(c) (OpaquePointer?, pos_log_level, UnsafePointer<CChar>?, Int) -> Void = { handle, level, message, length in
        guard call(handle) != nil else { return }
        current.sendLog(level: UInt8(clamping: level.rawValue), message: text(message, min(length, PluginLimits.logMessageBytes)))
    }

    static let emit: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?, Int, UnsafePointer<UInt8>?, Int,
        UnsafeMutablePointer<pos_error>?
    ) -> pos_status = { handle, type, typeLength, key, keyLength, payload, payloadLength, errorBuffer in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        guard call.kind == .handleEvent else {
            pos_error_set(errorBuffer, "emit is only allowed while handling an event")
            return POS_STATUS_NOT_ALLOWED
        }
        let typeName = text(type, typeLength)
        guard Names.isEventType(typeName) else {
            pos_error_set(errorBuffer, "'\(typeName)' is not a valid event type name")
            return POS_STATUS_ERROR
        }
        let body = bytes(payload, payloadLength)
        guard Names.looksLikeJSONObject(body) else {
            pos_error_set(errorBuffer, "payload of \(typeName) is not a JSON object")
            return POS_STATUS_ERROR
        }
        if let problem = PluginLimits.emitProblem(payloadBytes: payloadLength, effectsSoFar: call.effectsSize) {
            pos_error_set(errorBuffer, "\(typeName): \(problem)")
            return POS_STATUS_ERROR
        }
        call.emitted.append((typeName, text(key, keyLength), body))
        call.effectsSize += typeLength + keyLength + payloadLength + 16
        return POS_STATUS_OK
    }

    static let stateGet: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<pos_writer>?) -> pos_status = {
        handle, key, keyLength, out in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        let keyBytes = bytes(key, keyLength)
        let value: [UInt8]?
        if let pending = call.pending[keyBytes] {
            value = pending
        } else {
            switch current.read(keyBytes) {
            case .value(let read): value = read
            case .unavailable:
                call.storeUnavailable = true
                return POS_STATUS_ERROR
            }
        }
        guard let value else { return POS_STATUS_NOT_FOUND }
        guard let out else { return POS_STATUS_OK }
        return value.withUnsafeBufferPointer { out.pointee.write(out.pointee.context, $0.baseAddress, $0.count) }
    }

    static let statePut: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int) -> pos_status = {
        handle, key, keyLength, value, valueLength in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        guard call.mayWriteState else { return POS_STATUS_NOT_ALLOWED }
        if let problem = PluginLimits.stateWriteProblem(keyBytes: keyLength, valueBytes: valueLength, effectsSoFar: call.effectsSize) {
            current.sendLog(level: UInt8(POS_LOG_WARNING.rawValue), message: "state_put refused: \(problem)")
            return POS_STATUS_ERROR
        }
        call.write(bytes(key, keyLength), bytes(value, valueLength))
        return POS_STATUS_OK
    }

    static let stateDelete: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int) -> pos_status = { handle, key, keyLength in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        guard call.mayWriteState else { return POS_STATUS_NOT_ALLOWED }
        if let problem = PluginLimits.stateWriteProblem(keyBytes: keyLength, valueBytes: 0, effectsSoFar: call.effectsSize) {
            current.sendLog(level: UInt8(POS_LOG_WARNING.rawValue), message: "state_delete refused: \(problem)")
            return POS_STATUS_ERROR
        }
        call.write(bytes(key, keyLength), nil)
        return POS_STATUS_OK
    }

    static let stateScan: @convention(c) (
        OpaquePointer?, UnsafePointer<UInt8>?, Int,
        (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int) -> Int32)?,
        UnsafeMutableRawPointer?
    ) -> pos_status = { handle, prefix, prefixLength, visit, visitContext in
        guard let call = call(handle), let visit else { return POS_STATUS_ERROR }
        let prefixBytes = bytes(prefix, prefixLength)
        var merged: [[UInt8]: [UInt8]] = [:]
        guard let stored = current.scan(prefixBytes) else {
            call.storeUnavailable = true
            return POS_STATUS_ERROR
        }
        for entry in stored { merged[entry.key] = entry.value }
        for (key, value) in call.pending where key.starts(with: prefixBytes) { merged[key] = value }
        for (key, value) in merged.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let stop = key.withUnsafeBufferPointer { k in
                value.withUnsafeBufferPointer { v in visit(visitContext, k.baseAddress, k.count, v.baseAddress, v.count) }
            }
            if stop != 0 { break }
        }
        return POS_STATUS_OK
    }

    static let clockNow: @convention(c) (OpaquePointer?) -> Int64 = { handle in call(handle)?.clock ?? 0 }

    static let metricAdd: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int64) -> Void = { handle, name, delta in
        guard let call = call(handle), let name else { return }
        // Validated by the host, which logs a bad name where people look.
        call.counters[String(cString: name), default: 0] += delta
    }
}
