import PluginABI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the C descriptor and function table for a Swift plugin type.
///
/// A Swift plugin exports its entry with one function:
/// ```swift
/// @_cdecl("pos_plugin_entry")
/// public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
///     PluginExport.entry(MyPlugin.self, hostMajor: major, hostMinor: minor)
/// }
/// ```
public enum PluginExport {
    /// Returns the plugin's `pos_plugin_descriptor`, built on the first call and kept for the
    /// life of the process (plugins are never unloaded). Returns nil when the host's ABI major
    /// differs from the one this SDK was built for.
    ///
    /// Thread contract: the host calls the entry once, from one thread, before anything else.
    public static func entry<P: POSPlugin>(_ type: P.Type, hostMajor: UInt16, hostMinor: UInt16) -> UnsafeRawPointer? {
        guard hostMajor == UInt16(POS_PLUGIN_ABI_MAJOR) else { return nil }
        if let built = ExportedPlugin.descriptor { return UnsafeRawPointer(built) }
        ExportedPlugin.type = type
        let descriptor = makeDescriptor(P.descriptor)
        ExportedPlugin.descriptor = descriptor
        return UnsafeRawPointer(descriptor)
    }

    /// The NULL-terminated `pos_event_type` pointer array of `types` (nil when there are none).
    private static func eventTypes(_ types: [EventTypeDefinition]) -> UnsafePointer<UnsafePointer<pos_event_type>?>? {
        guard !types.isEmpty else { return nil }
        let list = UnsafeMutablePointer<UnsafePointer<pos_event_type>?>.allocate(capacity: types.count + 1)
        for (index, type) in types.enumerated() {
            let entry = UnsafeMutablePointer<pos_event_type>.allocate(capacity: 1)
            entry.initialize(to: pos_event_type(
                struct_size: UInt32(MemoryLayout<pos_event_type>.size), name: UnsafePointer(strdup(type.name)),
                description: UnsafePointer(strdup(type.description)), payload_schema: type.payloadSchema.map { UnsafePointer(strdup($0)) }))
            list[index] = UnsafePointer(entry)
        }
        list[types.count] = nil
        return UnsafePointer(list)
    }

    private static func makeDescriptor(_ info: PluginDescriptor) -> UnsafeMutablePointer<pos_plugin_descriptor> {
        // Everything below is leaked on purpose: the ABI requires it to stay valid for as long
        // as the library is loaded, which is the life of the process.
        let subscriptions = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: info.subscriptions.count + 1)
        for (index, name) in info.subscriptions.enumerated() { subscriptions[index] = UnsafePointer(strdup(name)) }
        subscriptions[info.subscriptions.count] = nil

        var emits: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        if let types = info.emits {
            emits = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: types.count + 1)
            for (index, name) in types.enumerated() { emits![index] = UnsafePointer(strdup(name)) }
            emits![types.count] = nil
        }

        let vtable = UnsafeMutablePointer<pos_plugin_vtable>.allocate(capacity: 1)
        vtable.initialize(
            to: pos_plugin_vtable(
                struct_size: UInt32(MemoryLayout<pos_plugin_vtable>.size),
                create: Trampolines.create, reconfigure: Trampolines.reconfigure,
                destroy: Trampolines.destroy, handle_event: Trampolines.handleEvent, query: Trampolines.query))

        let descriptor = UnsafeMutablePointer<pos_plugin_descriptor>.allocate(capacity: 1)
        descriptor.initialize(
            to: pos_plugin_descriptor(
                struct_size: UInt32(MemoryLayout<pos_plugin_descriptor>.size),
                abi_major: UInt16(POS_PLUGIN_ABI_MAJOR), abi_minor: UInt16(POS_PLUGIN_ABI_MINOR),
                name: UnsafePointer(strdup(info.name)), version: UnsafePointer(strdup(info.version)),
                description: UnsafePointer(strdup(info.description)),
                subscriptions: UnsafePointer(subscriptions),
                settings_schema: info.settingsSchema.map { UnsafePointer(strdup($0)) },
                default_settings: info.defaultSettings.map { UnsafePointer(strdup($0)) },
                flags: info.concurrentKeys ? POS_PLUGIN_FLAG_CONCURRENT_KEYS : 0,
                vtable: UnsafePointer(vtable), emits: emits.map { UnsafePointer($0) },
                event_types: eventTypes(info.eventTypes), header_hash: UnsafePointer(strdup(POS_PLUGIN_HEADER_HASH))))
        return descriptor
    }
}

/// Process-wide registration of the one plugin type this library exports.
/// Invariant: written once by `PluginExport.entry` before the host makes any other call, and
/// only read afterwards, so unsynchronised access is safe.
enum ExportedPlugin {
    nonisolated(unsafe) static var type: (any POSPlugin.Type)?
    nonisolated(unsafe) static var descriptor: UnsafeMutablePointer<pos_plugin_descriptor>?
}

/// One live instance as the host sees it. `plugin` is replaced only inside reconfigure, which
/// the ABI makes exclusive with every other call.
final class InstanceBox {
    var plugin: any POSPlugin
    let services: UnsafePointer<pos_host_services>

    init(plugin: any POSPlugin, services: UnsafePointer<pos_host_services>) {
        self.plugin = plugin
        self.services = services
    }
}

enum Trampolines {
    static func box(_ instance: UnsafeMutableRawPointer?) -> InstanceBox {
        Unmanaged<InstanceBox>.fromOpaque(instance!).takeUnretainedValue()
    }

    static func settings(_ json: UnsafePointer<CChar>?, _ length: Int) -> PluginSettings {
        guard let json else { return PluginSettings(json: Array("{}".utf8)) }
        return PluginSettings(json: json.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        })
    }

    static func report(_ error: any Error, into buffer: UnsafeMutablePointer<pos_error>?) {
        let text: String
        if let pluginError = error as? PluginError {
            switch pluginError {
            case .retryLater(let reason), .reject(let reason): text = reason
            default: text = pluginError.description
            }
        } else {
            text = String(describing: error)
        }
        pos_error_set(buffer, text)
    }

    static let create: @convention(c) (
        UnsafePointer<pos_host_services>?, OpaquePointer?, UnsafePointer<CChar>?, Int,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<pos_error>?
    ) -> pos_status = { services, call, json, length, out, errorBuffer in
        guard let services, let out, let type = ExportedPlugin.type else {
            pos_error_set(errorBuffer, "plugin entry was not called before create")
            return POS_STATUS_ERROR
        }
        do {
            let plugin = try type.init(settings: settings(json, length), host: PluginHost(services: services, call: call))
            out.pointee = Unmanaged.passRetained(InstanceBox(plugin: plugin, services: services)).toOpaque()
            return POS_STATUS_OK
        } catch {
            report(error, into: errorBuffer)
            return POS_STATUS_ERROR
        }
    }

    static let reconfigure: @convention(c) (
        UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<pos_error>?
    ) -> pos_status = { instance, call, json, length, errorBuffer in
        let box = box(instance)
        let host = PluginHost(services: box.services, call: call)
        let newSettings = settings(json, length)
        do {
            try box.plugin.reconfigure(settings: newSettings, host: host)
            return POS_STATUS_OK
        } catch is ReplaceInstanceRequest {
            do {
                box.plugin = try type(of: box.plugin).init(settings: newSettings, host: host)
                return POS_STATUS_OK
            } catch {
                report(error, into: errorBuffer)
                return POS_STATUS_ERROR
            }
        } catch {
            report(error, into: errorBuffer)
            return POS_STATUS_ERROR
        }
    }

    static let destroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { instance in
        guard let instance else { return }
        Unmanaged<InstanceBox>.fromOpaque(instance).release()
    }

    static let handleEvent: @convention(c) (
        UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<pos_event>?, UnsafeMutablePointer<pos_error>?
    ) -> pos_handle_result = { instance, call, event, errorBuffer in
        guard let event else {
            pos_error_set(errorBuffer, "no event")
            return POS_HANDLE_REJECT
        }
        let box = box(instance)
        do {
            try box.plugin.handle(PluginEvent(raw: event), host: PluginHost(services: box.services, call: call))
            return POS_HANDLE_OK
        } catch let error as PluginError {
            report(error, into: errorBuffer)
            if case .reject = error { return POS_HANDLE_REJECT }
            return POS_HANDLE_RETRY
        } catch let error as DecodingError {
            pos_error_set(errorBuffer, "payload does not decode: \(describe(error))")
            return POS_HANDLE_REJECT
        } catch {
            report(error, into: errorBuffer)
            return POS_HANDLE_RETRY
        }
    }

    static let query: @convention(c) (
        UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<UInt8>?, Int,
        UnsafeMutablePointer<pos_writer>?, UnsafeMutablePointer<pos_error>?
    ) -> pos_status = { instance, call, name, request, requestLength, response, errorBuffer in
        let box = box(instance)
        let requestBytes = request.map { Array(UnsafeBufferPointer(start: $0, count: requestLength)) } ?? []
        do {
            let answer = try box.plugin.query(
                name.map { String(cString: $0) } ?? "", request: requestBytes,
                host: PluginHost(services: box.services, call: call))
            guard let response else { return POS_STATUS_OK }
            return answer.withUnsafeBufferPointer { response.pointee.write(response.pointee.context, $0.baseAddress, $0.count) }
        } catch PluginError.unknownQuery(let name) {
            pos_error_set(errorBuffer, "unknown query '\(name)'")
            return POS_STATUS_NOT_FOUND
        } catch {
            report(error, into: errorBuffer)
            return POS_STATUS_ERROR
        }
    }

    /// A one-line description of a decoding failure naming the offending field by its name in
    /// the payload (snake_case, as the event catalog spells it), not the Swift property's.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? snakeCase($0.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let prefix = path(context)
            return "missing field '\(prefix.isEmpty ? snakeCase(key.stringValue) : prefix + "." + snakeCase(key.stringValue))'"
        case .typeMismatch(let type, let context): return "field '\(path(context))' is not \(type)"
        case .valueNotFound(let type, let context): return "field '\(path(context))' is null, expected \(type)"
        case .dataCorrupted(let context): return "\(context.debugDescription) at '\(path(context))'"
        @unknown default: return String(describing: error)
        }
    }

    /// `employeeId` -> `employee_id`: the inverse of JSONDecoder's `convertFromSnakeCase` for
    /// the names plugins use.
    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                if !result.isEmpty { result.append("_") }
                result += character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
