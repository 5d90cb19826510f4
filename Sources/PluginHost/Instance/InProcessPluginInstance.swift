import Foundation
import PluginIPC
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// A plugin instance living in the host process, called through its C function table.
/// The fastest isolation mode, for trusted plugins: a crash in the plugin is a crash of the host.
public final class InProcessPluginInstance: PluginInstance, @unchecked Sendable {
    // @unchecked: `instance` is only touched under `gate` (shared for concurrent-key plugins'
    // handle calls, exclusive for everything else), which is what the ABI promises the plugin.
    public let library: PluginLibrary
    public var manifest: PluginManifest { library.manifest }
    let context: PluginRuntimeContext
    let sink: any EmittedEventSink
    private var instance: UnsafeMutableRawPointer?
    private let gate = ReadWriteLock()

    /// The plugin's instance pointer (benchmarks only; bypasses the gate).
    var rawInstance: UnsafeMutableRawPointer? { instance }

    static let errorCapacity = 1024

    /// Creates the instance with already-validated settings. Throws `.createFailed` with the
    /// plugin's own message when its create fails.
    public init(library: PluginLibrary, settings: JSONValue, context: PluginRuntimeContext, sink: any EmittedEventSink) throws(PluginLoadError) {
        self.library = library
        self.context = context
        context.declaredEmits.withLock { $0 = library.manifest.emits }
        self.sink = sink
        let call = PluginCall(kind: .create, context: context)
        var created: UnsafeMutableRawPointer?
        let (status, message) = Self.withCall(call) { handle, error in
            Self.withSettings(settings) { text, length in
                library.vtable.pointee.create(HostServicesTable.shared.value, handle, text, length, &created, error)
            }
        }
        guard status == POS_STATUS_OK, let created else {
            throw PluginLoadError(.createFailed, path: library.path, "create failed: \(message.isEmpty ? "the plugin gave no reason" : message)")
        }
        do {
            try call.transaction.commit()
        } catch {
            library.vtable.pointee.destroy(created)
            throw PluginLoadError(.createFailed, path: library.path, "create failed: its initial state could not be stored: \(error)")
        }
        instance = created
    }

    /// Runs `body` with a `pos_call` handle for `call` and a zeroed error buffer, returning the
    /// body's result and the message the plugin left in the buffer.
    static func withCall<R>(_ call: PluginCall, _ body: (OpaquePointer, UnsafeMutablePointer<pos_error>) -> R) -> (R, String) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: errorCapacity) { buffer in
            buffer[0] = 0
            var error = pos_error(struct_size: UInt32(MemoryLayout<pos_error>.size), message: buffer.baseAddress, capacity: errorCapacity)
            let handle = OpaquePointer(Unmanaged.passUnretained(call).toOpaque())
            let result = withExtendedLifetime(call) { body(handle, &error) }
            buffer[errorCapacity - 1] = 0
            return (result, String(cString: buffer.baseAddress!))
        }
    }

    static func withSettings<R>(_ settings: JSONValue, _ body: (UnsafePointer<CChar>, Int) -> R) -> R {
        let text = settings.jsonText
        return text.withCString { body($0, strlen($0)) }
    }

    public func handle(_ events: ArraySlice<Event>, attempts: ArraySlice<Int>, shouldStop: () -> Bool) -> [HandleReport] {
        let concurrent = manifest.concurrentKeys
        if concurrent { gate.lockShared() } else { gate.lockExclusive() }
        defer { gate.unlock() }
        guard let instance else {
            return events.isEmpty ? [] : [HandleReport(outcome: .retry("the plugin instance has been shut down"), nanoseconds: 0)]
        }
        var reports: [HandleReport] = []
        reports.reserveCapacity(events.count)
        var attemptIndex = attempts.startIndex
        for event in events {
            if shouldStop() { break }
            let started = Monotonic.nanoseconds()
            let outcome = handleOne(event, attempt: attempts[attemptIndex], instance: instance)
            reports.append(HandleReport(outcome: outcome, nanoseconds: Monotonic.nanoseconds() - started))
            attemptIndex += 1
            if outcome != .handled { break }
        }
        return reports
    }

    private func handleOne(_ event: Event, attempt: Int, instance: UnsafeMutableRawPointer) -> HandleOutcome {
        let call = PluginCall(kind: .handleEvent, context: context, event: event)
        let (result, message) = Self.withCall(call) { handle, error in
            Self.withEventStruct(event, attempt: attempt) { raw in
                library.vtable.pointee.handle_event(instance, handle, raw, error)
            }
        }
        if call.storeUnavailable { return .unavailable("the state store is unavailable", retryAfterMilliseconds: 500) }
        switch result {
        case POS_HANDLE_OK:
            return call.finish(publishingTo: sink)
        case POS_HANDLE_REJECT:
            return .reject(message.isEmpty ? "rejected by the plugin (no reason given)" : message)
        default:
            return .retry(message.isEmpty ? "the plugin asked for a retry (no reason given)" : message)
        }
    }

    static func withEventStruct<R>(_ event: Event, attempt: Int, _ body: (UnsafePointer<pos_event>) -> R) -> R {
        withUTF8(event.id) { id in
            withUTF8(event.type) { type in
                withUTF8(event.key) { key in
                    event.payload.withUnsafeBufferPointer { payload in
                        var raw = pos_event(
                            struct_size: UInt32(MemoryLayout<pos_event>.size), id: id.baseAddress, id_len: id.count,
                            type: type.baseAddress, type_len: type.count, key: key.baseAddress, key_len: key.count,
                            event_time_ms: event.timeMilliseconds, payload: payload.baseAddress, payload_len: payload.count,
                            attempt: UInt32(clamping: attempt))
                        return body(&raw)
                    }
                }
            }
        }
    }

    /// The UTF-8 bytes of `text` as C characters without copying when the string is native.
    static func withUTF8<R>(_ text: String, _ body: (UnsafeBufferPointer<CChar>) -> R) -> R {
        if let result = text.utf8.withContiguousStorageIfAvailable({ bytes in
            bytes.withMemoryRebound(to: CChar.self) { body($0) }
        }) {
            return result
        }
        return Array(text.utf8).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { body($0) } }
    }

    public func query(_ name: String, request: [UInt8]) -> QueryResult {
        guard let queryFunction = library.vtable.pointee.query else { return .unknownQuery(name) }
        if manifest.concurrentKeys { gate.lockShared() } else { gate.lockExclusive() }
        defer { gate.unlock() }
        guard let instance else { return .failed("the plugin instance has been shut down") }
        final class Collector { var bytes: [UInt8] = [] }
        let collector = Collector()
        let call = PluginCall(kind: .query, context: context)
        let (status, message) = Self.withCall(call) { handle, error in
            withExtendedLifetime(collector) {
                var writer = pos_writer(
                    struct_size: UInt32(MemoryLayout<pos_writer>.size), context: Unmanaged.passUnretained(collector).toOpaque(),
                    write: { context, bytes, length in
                        let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                        guard collector.bytes.count + length <= PluginLimits.queryResponseBytes else { return POS_STATUS_ERROR }
                        if let bytes, length > 0 { collector.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length)) }
                        return POS_STATUS_OK
                    })
                return name.withCString { cName in
                    request.withUnsafeBufferPointer { requestBytes in
                        queryFunction(instance, handle, cName, requestBytes.baseAddress, requestBytes.count, &writer, error)
                    }
                }
            }
        }
        switch status {
        case POS_STATUS_OK: return .answer(collector.bytes)
        case POS_STATUS_NOT_FOUND: return .unknownQuery(message.isEmpty ? name : message)
        default: return .failed(message.isEmpty ? "query failed (no reason given)" : message)
        }
    }

    public func reconfigure(settings: JSONValue) throws(PluginLoadError) {
        gate.lockExclusive()
        defer { gate.unlock() }
        guard let current = instance else { return }
        if let reconfigureFunction = library.vtable.pointee.reconfigure {
            let call = PluginCall(kind: .reconfigure, context: context)
            let (status, message) = Self.withCall(call) { handle, error in
                Self.withSettings(settings) { reconfigureFunction(current, handle, $0, $1, error) }
            }
            guard status == POS_STATUS_OK else {
                throw PluginLoadError(.createFailed, path: library.path, "reconfigure failed: \(message.isEmpty ? "no reason given" : message)")
            }
            return
        }
        // No reconfigure: replace the instance, keeping the old one if the new one fails.
        let call = PluginCall(kind: .create, context: context)
        var created: UnsafeMutableRawPointer?
        let (status, message) = Self.withCall(call) { handle, error in
            Self.withSettings(settings) { library.vtable.pointee.create(HostServicesTable.shared.value, handle, $0, $1, &created, error) }
        }
        guard status == POS_STATUS_OK, let created else {
            throw PluginLoadError(.createFailed, path: library.path, "create with the new settings failed: \(message)")
        }
        try? call.transaction.commit()
        library.vtable.pointee.destroy(current)
        instance = created
    }

    public func shutdown() {
        gate.lockExclusive()
        defer { gate.unlock() }
        if let current = instance { library.vtable.pointee.destroy(current) }
        instance = nil
    }

    deinit { if let instance { library.vtable.pointee.destroy(instance) } }
}

/// pthread read-write lock: shared for concurrent-key handle calls, exclusive otherwise.
final class ReadWriteLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    init() { pthread_rwlock_init(lock, nil) }
    func lockShared() { pthread_rwlock_rdlock(lock) }
    func lockExclusive() { pthread_rwlock_wrlock(lock) }
    func unlock() { pthread_rwlock_unlock(lock) }
    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }
}
