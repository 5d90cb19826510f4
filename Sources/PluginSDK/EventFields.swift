import PluginABI

/// Reads single fields of the event being handled through the host's ABI 1.1 field access,
/// without decoding the whole payload: cheaper than `JSONDecoder` when a handler needs a few
/// fields of a large event. Paths are member names separated by '.', a decimal segment
/// indexes an array ("items.0.sku"). Every getter answers nil when the host is older than 1.1,
/// nothing (or null) is at the path, the value has another type, or the call is not
/// handle_event.
extension PluginHost {
    private var hasFieldAccess: Bool {
        Int(services.pointee.struct_size) >= MemoryLayout<pos_host_services>.size && services.pointee.abi_minor >= 1
    }

    private func withPath<R>(_ path: String, _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
        var path = path
        return path.withUTF8 { bytes in bytes.withMemoryRebound(to: CChar.self) { body($0.baseAddress, $0.count) } }
    }

    /// The string at `path`.
    public func eventString(_ path: String) -> String? {
        guard hasFieldAccess else { return nil }
        return eventBytes(path, services.pointee.event_get_string).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The whole number at `path`.
    public func eventInt(_ path: String) -> Int64? {
        guard hasFieldAccess else { return nil }
        var value: Int64 = 0
        let status = withPath(path) { services.pointee.event_get_int64(call, $0, $1, &value) }
        return status == POS_STATUS_OK ? value : nil
    }

    /// The number at `path`.
    public func eventDouble(_ path: String) -> Double? {
        guard hasFieldAccess else { return nil }
        var value = 0.0
        let status = withPath(path) { services.pointee.event_get_double(call, $0, $1, &value) }
        return status == POS_STATUS_OK ? value : nil
    }

    /// The boolean at `path`.
    public func eventBool(_ path: String) -> Bool? {
        guard hasFieldAccess else { return nil }
        var value: Int32 = 0
        let status = withPath(path) { services.pointee.event_get_bool(call, $0, $1, &value) }
        return status == POS_STATUS_OK ? value != 0 : nil
    }

    /// The number of elements (or members) at `path`.
    public func eventLength(_ path: String) -> Int? {
        guard hasFieldAccess else { return nil }
        var value = 0
        let status = withPath(path) { services.pointee.event_get_length(call, $0, $1, &value) }
        return status == POS_STATUS_OK ? value : nil
    }

    /// The JSON text of the value at `path` (for a nested object to decode with Codable).
    public func eventJSON(_ path: String) -> [UInt8]? {
        guard hasFieldAccess else { return nil }
        return eventBytes(path, services.pointee.event_get_json)
    }

    private typealias BytesGetter = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<pos_writer>?) -> pos_status

    private func eventBytes(_ path: String, _ getter: BytesGetter?) -> [UInt8]? {
        guard let getter else { return nil }
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        let status = withExtendedLifetime(sink) {
            var writer = pos_writer(
                struct_size: UInt32(MemoryLayout<pos_writer>.size), context: Unmanaged.passUnretained(sink).toOpaque(),
                write: { context, bytes, length in
                    let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
                    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
                    return POS_STATUS_OK
                })
            return withPath(path) { getter(call, $0, $1, &writer) }
        }
        return status == POS_STATUS_OK ? sink.bytes : nil
    }
}
