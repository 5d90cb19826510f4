import PluginIPC
import Logging
import PluginABI

/// The one `pos_host_services` table given to every in-process plugin. The functions find the
/// plugin and the call from the `pos_call *` handle, which is an unretained `PluginCall`.
enum HostServicesTable {
    struct Pointer: @unchecked Sendable {
        // Written once at first use and never changed: safe to share between threads.
        let value: UnsafePointer<pos_host_services>
    }

    static let shared: Pointer = {
        let table = UnsafeMutablePointer<pos_host_services>.allocate(capacity: 1)
        table.initialize(
            to: pos_host_services(
                struct_size: UInt32(MemoryLayout<pos_host_services>.size),
                abi_major: UInt16(POS_PLUGIN_ABI_MAJOR), abi_minor: UInt16(POS_PLUGIN_ABI_MINOR),
                log: log, emit: emit, state_get: stateGet, state_put: statePut, state_delete: stateDelete,
                state_scan: stateScan, clock_now_ms: clockNow, metric_add: metricAdd,
                event_get_string: { PayloadFieldServices.string(payload($0), $1, $2, $3) },
                event_get_int64: { PayloadFieldServices.int64(payload($0), $1, $2, $3) },
                event_get_double: { PayloadFieldServices.double(payload($0), $1, $2, $3) },
                event_get_bool: { PayloadFieldServices.bool(payload($0), $1, $2, $3) },
                event_get_length: { PayloadFieldServices.length(payload($0), $1, $2, $3) },
                event_get_json: { PayloadFieldServices.json(payload($0), $1, $2, $3) }))
        return Pointer(value: UnsafePointer(table))
    }()

    static func call(_ handle: OpaquePointer?) -> PluginCall? {
        guard let handle else { return nil }
        return Unmanaged<PluginCall>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// The payload field access reads: the handled event's, nil in any other call.
    static func payload(_ handle: OpaquePointer?) -> [UInt8]? {
        guard let call = call(handle), call.kind == .handleEvent else { return nil }
        return call.event?.payload
    }

    static func bytes(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> [UInt8] { CBuffers.bytes(pointer, length) }

    static func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String { CBuffers.text(pointer, length) }

    static let log: @convention(c) (OpaquePointer?, pos_log_level, UnsafePointer<CChar>?, Int) -> Void = {
        handle, level, message, length in
        guard let call = call(handle) else { return }
        let swiftLevel: Logger.Level
        switch level {
        case POS_LOG_TRACE: swiftLevel = .trace
        case POS_LOG_DEBUG: swiftLevel = .debug
        case POS_LOG_INFO: swiftLevel = .info
        case POS_LOG_WARNING: swiftLevel = .warning
        default: swiftLevel = .error
        }
        let line = text(message, min(length, PluginLimits.logMessageBytes))
        if let event = call.event {
            call.context.logger.log(level: swiftLevel, "\(line)", metadata: ["event_id": .string(event.id)])
        } else {
            call.context.logger.log(level: swiftLevel, "\(line)")
        }
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
        do {
            try call.emit(type: text(type, typeLength), key: text(key, keyLength), payload: bytes(payload, payloadLength))
            return POS_STATUS_OK
        } catch {
            pos_error_set(errorBuffer, "\(error)")
            return POS_STATUS_ERROR
        }
    }

    static let stateGet: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<pos_writer>?) -> pos_status = {
        handle, key, keyLength, out in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        do {
            guard let value = try call.transaction.get(bytes(key, keyLength)) else { return POS_STATUS_NOT_FOUND }
            guard let out else { return POS_STATUS_OK }
            return value.withUnsafeBufferPointer { out.pointee.write(out.pointee.context, $0.baseAddress, $0.count) }
        } catch {
            call.context.logger.warning("state store unavailable, waiting: \(error)")
            call.storeUnavailable = true
            return POS_STATUS_ERROR
        }
    }

    static let statePut: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int) -> pos_status = {
        handle, key, keyLength, value, valueLength in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        guard call.mayWriteState else { return POS_STATUS_NOT_ALLOWED }
        if let problem = PluginLimits.stateWriteProblem(keyBytes: keyLength, valueBytes: valueLength, effectsSoFar: call.effectsBytes) {
            call.context.logger.warning("state_put refused: \(problem)")
            return POS_STATUS_ERROR
        }
        call.effectsBytes += keyLength + valueLength
        call.transaction.put(bytes(key, keyLength), bytes(value, valueLength))
        return POS_STATUS_OK
    }

    static let stateDelete: @convention(c) (OpaquePointer?, UnsafePointer<UInt8>?, Int) -> pos_status = { handle, key, keyLength in
        guard let call = call(handle) else { return POS_STATUS_ERROR }
        guard call.mayWriteState else { return POS_STATUS_NOT_ALLOWED }
        if let problem = PluginLimits.stateWriteProblem(keyBytes: keyLength, valueBytes: 0, effectsSoFar: call.effectsBytes) {
            call.context.logger.warning("state_delete refused: \(problem)")
            return POS_STATUS_ERROR
        }
        call.effectsBytes += keyLength
        call.transaction.delete(bytes(key, keyLength))
        return POS_STATUS_OK
    }

    static let stateScan: @convention(c) (
        OpaquePointer?, UnsafePointer<UInt8>?, Int,
        (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int, UnsafePointer<UInt8>?, Int) -> Int32)?,
        UnsafeMutableRawPointer?
    ) -> pos_status = { handle, prefix, prefixLength, visit, visitContext in
        guard let call = call(handle), let visit else { return POS_STATUS_ERROR }
        do {
            for entry in try call.transaction.scan(bytes(prefix, prefixLength)) {
                let stop = entry.key.withUnsafeBufferPointer { key in
                    entry.value.withUnsafeBufferPointer { value in
                        visit(visitContext, key.baseAddress, key.count, value.baseAddress, value.count)
                    }
                }
                if stop != 0 { break }
            }
            return POS_STATUS_OK
        } catch {
            call.context.logger.warning("state store unavailable, waiting: \(error)")
            call.storeUnavailable = true
            return POS_STATUS_ERROR
        }
    }

    static let clockNow: @convention(c) (OpaquePointer?) -> Int64 = { handle in
        call(handle)?.context.clock.nowMilliseconds() ?? 0
    }

    static let metricAdd: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int64) -> Void = { handle, name, delta in
        guard let call = call(handle), let name else { return }
        let counter = String(cString: name)
        guard Names.isCounterName(counter) else {
            call.context.logger.warning("metric_add ignored: '\(counter)' is not a valid counter name ([a-z0-9_], <= 64)")
            return
        }
        call.context.metrics.addCustom(counter, delta)
    }
}
