import Foundation
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// A plugin shared object mapped into this process, with its validated descriptor.
///
/// Sendable because everything it points to is plugin-owned static data that the ABI forbids
/// the plugin to change, and the library is never unmapped (it is opened with RTLD_NODELETE).
public final class PluginLibrary: @unchecked Sendable {
    public let path: String
    public let manifest: PluginManifest
    public let schema: JSONSchema?
    let descriptor: UnsafePointer<pos_plugin_descriptor>
    let vtable: UnsafePointer<pos_plugin_vtable>

    init(path: String, manifest: PluginManifest, schema: JSONSchema?, descriptor: UnsafePointer<pos_plugin_descriptor>) {
        self.path = path
        self.manifest = manifest
        self.schema = schema
        self.descriptor = descriptor
        self.vtable = descriptor.pointee.vtable
    }

    /// The descriptor's defaults with `overrides` merged in, validated against the schema.
    public func effectiveSettings(_ overrides: JSONValue) throws(PluginLoadError) -> JSONValue {
        let merged = manifest.defaultSettings.merging(overrides)
        guard case .object = merged else {
            throw PluginLoadError(.settingsRejected, path: path, "settings must be an object, got \(merged.typeName)")
        }
        if let schema {
            let violations = schema.violations(of: merged)
            if !violations.isEmpty {
                throw PluginLoadError(
                    .settingsRejected, path: path,
                    "settings rejected by the plugin's schema: " + violations.prefix(5).map(\.description).joined(separator: "; "))
            }
        }
        return merged
    }
}

/// Loads plugin files: trust checks, ELF checks, dlopen, ABI negotiation and descriptor validation.
public enum PluginLoader {
    /// The ABI version of this host.
    public static let hostABIMajor = UInt16(POS_PLUGIN_ABI_MAJOR)
    public static let hostABIMinor = UInt16(POS_PLUGIN_ABI_MINOR)

    /// Size of the 1.0 descriptor and vtable: the least a plugin of this major must provide.
    static let minimumDescriptorSize = MemoryLayout<pos_plugin_descriptor>.size
    static let minimumVTableSize = MemoryLayout<pos_plugin_vtable>.size

    /// Loads `path`; `sha256` pins the file's content when given. Never throws anything but
    /// ``PluginLoadError``, and never crashes on a well-formed ELF file that is not a plugin.
    /// (A hostile plugin can still crash in its own constructors or entry: inspect unknown
    /// files with `pluginctl inspect`, which loads them in a throwaway process.)
    public static func load(path: String, sha256 pin: String? = nil) throws(PluginLoadError) -> PluginLibrary {
        if let (kind, reason) = FileTrust.problem(withFileAt: path) { throw PluginLoadError(kind, path: path, reason) }
        if let pin {
            let actual: String
            do { actual = try FileTrust.sha256(ofFileAt: path) } catch {
                throw PluginLoadError(.notFound, path: path, "cannot be read to check its sha256: \(error.localizedDescription)")
            }
            guard actual == pin else {
                throw PluginLoadError(.checksumMismatch, path: path, "sha256 is \(actual) but the settings pin \(pin); refusing to load")
            }
        }
        if let (kind, reason) = ELFHeader.problem(withFileAt: path) { throw PluginLoadError(kind, path: path, reason) }

        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(.dlopenFailed, path: path, "dlopen failed: \(message)")
        }
        guard let symbol = dlsym(handle, POS_PLUGIN_ENTRY_SYMBOL) else {
            throw PluginLoadError(.missingEntry, path: path, "does not export \(POS_PLUGIN_ENTRY_SYMBOL): not a POS plugin")
        }
        let entry = unsafeBitCast(symbol, to: pos_plugin_entry_fn.self)
        guard let descriptor = entry(hostABIMajor, hostABIMinor) else {
            throw PluginLoadError(
                .noDescriptor, path: path,
                "its entry returned no descriptor: the plugin refuses this host's ABI \(hostABIMajor).\(hostABIMinor)")
        }
        let (manifest, schema) = try validate(descriptor, path: path)
        return PluginLibrary(path: path, manifest: manifest, schema: schema, descriptor: descriptor)
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }

    static func validate(_ descriptor: UnsafePointer<pos_plugin_descriptor>, path: String) throws(PluginLoadError) -> (PluginManifest, JSONSchema?) {
        func invalid(_ reason: String) -> PluginLoadError { PluginLoadError(.invalidDescriptor, path: path, "invalid descriptor: \(reason)") }
        // Major and minor sit right after struct_size in every version: read them first, so a
        // plugin of another major gets the right message even if its layout differs.
        let size = Int(descriptor.pointee.struct_size)
        guard size >= 8 else { throw invalid("struct_size \(size) is too small") }
        let major = descriptor.pointee.abi_major, minor = descriptor.pointee.abi_minor
        guard major == hostABIMajor else {
            throw PluginLoadError(
                .abiMajorMismatch, path: path,
                "built for plugin ABI \(major).\(minor) but this host speaks \(hostABIMajor).\(hostABIMinor); rebuild the plugin against this host's pos_plugin.h")
        }
        guard minor <= hostABIMinor else {
            throw PluginLoadError(
                .abiMinorTooNew, path: path,
                "needs plugin ABI \(major).\(minor) but this host provides \(hostABIMajor).\(hostABIMinor); upgrade the host")
        }
        guard size >= minimumDescriptorSize else { throw invalid("struct_size \(size) is smaller than the \(minimumDescriptorSize) bytes of ABI 1.0") }

        let d = descriptor.pointee
        guard let name = string(d.name), PluginConfig.isValidName(name) else {
            throw invalid("name \(string(d.name).map { "'\($0)'" } ?? "NULL") must be 1-64 characters of [a-z0-9_] starting with a letter")
        }
        guard let version = string(d.version), !version.isEmpty else { throw invalid("version is missing") }
        guard var cursor = d.subscriptions else { throw invalid("subscriptions is NULL (use {\"*\", NULL} for every event type)") }
        var subscriptions: [String] = []
        while let entry = cursor.pointee, subscriptions.count <= 1024 {
            let type = String(cString: entry)
            guard type == "*" || type.range(of: #"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$"#, options: .regularExpression) != nil else {
                throw invalid("subscription '\(type)' is not an event type name")
            }
            subscriptions.append(type)
            cursor += 1
        }
        guard !subscriptions.isEmpty else { throw invalid("subscribes to no event types") }
        guard let vtable = d.vtable else { throw invalid("vtable is NULL") }
        guard Int(vtable.pointee.struct_size) >= minimumVTableSize else {
            throw invalid("vtable struct_size \(vtable.pointee.struct_size) is smaller than the \(minimumVTableSize) bytes of ABI 1.0")
        }
        let functions = vtable.pointee
        guard functions.create != nil else { throw invalid("vtable.create is NULL") }
        guard functions.destroy != nil else { throw invalid("vtable.destroy is NULL") }
        guard functions.handle_event != nil else { throw invalid("vtable.handle_event is NULL") }

        var schema: JSONSchema?
        var schemaValue: JSONValue?
        if let text = string(d.settings_schema) {
            do {
                let value = try JSONValue.parse(text)
                schema = try JSONSchema(value)
                schemaValue = value
            } catch {
                throw invalid("settings_schema: \(error)")
            }
        }
        var defaults = JSONValue.object([:])
        if let text = string(d.default_settings) {
            do { defaults = try JSONValue.parse(text) } catch { throw invalid("default_settings: \(error)") }
            guard case .object = defaults else { throw invalid("default_settings must be a JSON object") }
        }
        if let schema {
            let violations = schema.violations(of: defaults)
            if !violations.isEmpty { throw invalid("default_settings do not satisfy the settings schema: \(violations[0])") }
        }
        let manifest = PluginManifest(
            name: name, version: version, description: string(d.description) ?? "", abiMajor: Int(major),
            abiMinor: Int(minor), subscriptions: subscriptions, settingsSchema: schemaValue, defaultSettings: defaults,
            concurrentKeys: d.flags & POS_PLUGIN_FLAG_CONCURRENT_KEYS != 0,
            supportsReconfigure: functions.reconfigure != nil, supportsQuery: functions.query != nil)
        return (manifest, schema)
    }
}
