import PluginABI

/// The host services as seen from a Swift plugin, bound to the call in progress.
///
/// Call-scoped: valid only during the plugin call it was passed to. State changes and emitted
/// events made while handling an event are committed only if the handler returns normally.
public struct PluginHost {
    let services: UnsafePointer<pos_host_services>
    let call: OpaquePointer?

    init(services: UnsafePointer<pos_host_services>, call: OpaquePointer?) {
        self.services = services
        self.call = call
    }

    public enum LogLevel: UInt32, Sendable {
        case trace = 0, debug, info, warning, error
    }

    /// Logs a line attributed to this plugin.
    public func log(_ message: String, level: LogLevel = .info) {
        var message = message
        message.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                services.pointee.log(call, pos_log_level(rawValue: level.rawValue), $0.baseAddress, $0.count)
            }
        }
    }

    /// Emits an event with a JSON payload; an empty key means "the key of the event being handled".
    public func emit(type: String, key: String = "", payload: [UInt8]) throws {
        var type = type, key = key
        var message = [CChar](repeating: 0, count: 256)
        let status = type.withUTF8 { typeBytes in
            key.withUTF8 { keyBytes in
                payload.withUnsafeBufferPointer { payloadBytes in
                    message.withUnsafeMutableBufferPointer { messageBuffer in
                        var error = pos_error(
                            struct_size: UInt32(MemoryLayout<pos_error>.size),
                            message: messageBuffer.baseAddress, capacity: messageBuffer.count)
                        return typeBytes.withMemoryRebound(to: CChar.self) { typeChars in
                            keyBytes.withMemoryRebound(to: CChar.self) { keyChars in
                                services.pointee.emit(
                                    call, typeChars.baseAddress, typeChars.count, keyChars.baseAddress,
                                    keyChars.count, payloadBytes.baseAddress, payloadBytes.count, &error)
                            }
                        }
                    }
                }
            }
        }
        guard status == POS_STATUS_OK else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PluginError.retryLater("emit \(type) failed: \(reason)")
        }
    }

    /// Emits an event whose payload is `value` encoded as JSON with snake_case keys.
    public func emit<T: Encodable>(type: String, key: String = "", _ value: T) throws {
        try emit(type: type, key: key, payload: PluginJSON.encode(value))
    }

    /// The plugin's private key-value state.
    public var state: PluginState { PluginState(services: services, call: call) }

    /// The host clock in milliseconds since the epoch (a controlled clock in tests and replays).
    /// Prefer ``PluginEvent/timeMilliseconds`` for business rules.
    public var nowMilliseconds: Int64 { services.pointee.clock_now_ms(call) }

    /// Adds `delta` to the plugin's counter `name` (`[a-z0-9_]`, at most 64 characters).
    public func count(_ name: String, by delta: Int64 = 1) {
        name.withCString { services.pointee.metric_add(call, $0, delta) }
    }
}

/// The plugin's private, transactional key-value state (see ``PluginHost``).
public struct PluginState {
    let services: UnsafePointer<pos_host_services>
    let call: OpaquePointer?

    /// The value under `key`, or nil.
    public func get(_ key: String) -> [UInt8]? {
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        var key = key
        let status = key.withUTF8 { keyBytes in
            withExtendedLifetime(sink) {
                var writer = pos_writer(
                    struct_size: UInt32(MemoryLayout<pos_writer>.size),
                    context: Unmanaged.passUnretained(sink).toOpaque(),
                    write: { context, bytes, length in
                        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
                        return POS_STATUS_OK
                    })
                return services.pointee.state_get(call, keyBytes.baseAddress, keyBytes.count, &writer)
            }
        }
        return status == POS_STATUS_OK ? sink.bytes : nil
    }

    /// Stores `value` under `key`.
    public func put(_ key: String, _ value: [UInt8]) throws {
        var key = key
        let status = key.withUTF8 { keyBytes in
            value.withUnsafeBufferPointer {
                services.pointee.state_put(call, keyBytes.baseAddress, keyBytes.count, $0.baseAddress, $0.count)
            }
        }
        guard status == POS_STATUS_OK else { throw PluginError.retryLater("state put of '\(key)' failed") }
    }

    /// Deletes `key` (a missing key is not an error).
    public func delete(_ key: String) throws {
        var key = key
        let status = key.withUTF8 { services.pointee.state_delete(call, $0.baseAddress, $0.count) }
        guard status == POS_STATUS_OK else { throw PluginError.retryLater("state delete of '\(key)' failed") }
    }

    /// Every entry whose key starts with `prefix`, in ascending key order.
    public func scan(prefix: String) -> [(key: String, value: [UInt8])] {
        final class Sink { var entries: [(key: String, value: [UInt8])] = [] }
        let sink = Sink()
        var prefix = prefix
        _ = prefix.withUTF8 { prefixBytes in
            withExtendedLifetime(sink) {
                services.pointee.state_scan(
                    call, prefixBytes.baseAddress, prefixBytes.count,
                    { context, key, keyLength, value, valueLength in
                        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                        sink.entries.append(
                            (
                                String(decoding: UnsafeBufferPointer(start: key, count: keyLength), as: UTF8.self),
                                Array(UnsafeBufferPointer(start: value, count: valueLength))
                            ))
                        return 0
                    }, Unmanaged.passUnretained(sink).toOpaque())
            }
        }
        return sink.entries
    }

    /// Decodes the JSON value under `key`, or nil when absent.
    public func get<T: Decodable>(_ key: String, as type: T.Type) throws -> T? {
        guard let bytes = get(key) else { return nil }
        return try PluginJSON.decode(type, from: bytes)
    }

    /// Stores `value` as JSON under `key`.
    public func put<T: Encodable>(_ key: String, json value: T) throws {
        try put(key, PluginJSON.encode(value))
    }
}
