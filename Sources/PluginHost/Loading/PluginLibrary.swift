import Foundation
import PluginABI
import PluginIPC

#if canImport(Glibc)
import Glibc
#endif

/// A validated plugin: what the host knows about it, wherever it runs (in-process or in a worker).
public struct PluginDescription: Sendable {
    public let path: String
    public let manifest: PluginManifest
    public let schema: JSONSchema?

    /// The descriptor's defaults with `overrides` merged in, validated against the schema.
    /// The defaults merged with `overrides`, validated against the schema. With `marks` (the
    /// settings file's positions), each violation starts with the file:line:column it is at.
    public func effectiveSettings(_ overrides: JSONValue, marks: SettingsMarks = SettingsMarks()) throws(PluginLoadError) -> JSONValue {
        let merged = manifest.defaultSettings.merging(overrides)
        guard case .object = merged else {
            throw PluginLoadError(.settingsRejected, path: path, "settings must be an object, got \(merged.typeName)")
        }
        if let schema {
            let violations = schema.violations(of: merged)
            if !violations.isEmpty {
                throw PluginLoadError(
                    .settingsRejected, path: path,
                    "settings rejected by the plugin's schema: "
                        + violations.prefix(5).map { violation in marks.mark(for: violation.path).map { "\($0): \(violation)" } ?? violation.description }
                        .joined(separator: "; "))
            }
        }
        return merged
    }
}

/// A plugin shared object mapped into this process, with its validated descriptor.
///
/// Sendable because everything it points to is plugin-owned static data that the ABI forbids
/// the plugin to change, and the library is never unmapped (it is opened with RTLD_NODELETE).
public final class PluginLibrary: @unchecked Sendable {
    public let description: PluginDescription
    public var path: String { description.path }
    public var manifest: PluginManifest { description.manifest }
    let vtable: UnsafePointer<pos_plugin_vtable>

    init(description: PluginDescription, descriptor: UnsafePointer<pos_plugin_descriptor>) {
        self.description = description
        self.vtable = descriptor.pointee.vtable
    }

    public func effectiveSettings(_ overrides: JSONValue, marks: SettingsMarks = SettingsMarks()) throws(PluginLoadError) -> JSONValue {
        try description.effectiveSettings(overrides, marks: marks)
    }
}

/// Loads plugin files: trust checks, ELF checks, dlopen, ABI negotiation and descriptor validation.
public enum PluginLoader {
    /// The ABI version of this host.
    public static let hostABIMajor = UInt16(POS_PLUGIN_ABI_MAJOR)
    public static let hostABIMinor = UInt16(POS_PLUGIN_ABI_MINOR)


    /// Loads `path`; `sha256` pins the file's content when given. Never throws anything but
    /// ``PluginLoadError``, and never crashes on a well-formed ELF file that is not a plugin.
    /// (A hostile plugin can still crash in its own constructors or entry: inspect unknown
    /// files with `pluginctl inspect`, which loads them in a throwaway process.)
    public static func load(path: String, sha256 pin: String? = nil) throws(PluginLoadError) -> PluginLibrary {
        let real = try preflight(path: path, sha256: pin)
        let descriptor = try open(path: real)
        let description = try validate(RawDescriptor(reading: descriptor), path: path)
        return PluginLibrary(description: description, descriptor: descriptor)
    }

    /// The checks that run no plugin code: ownership and permissions over the real path, the
    /// sha256 pin, the ELF header. Done by the host before a worker process ever maps the file.
    /// Returns the real path (symlinks resolved): what is loaded or snapshotted is exactly what
    /// was checked.
    @discardableResult
    public static func preflight(path: String, sha256 pin: String?) throws(PluginLoadError) -> String {
        let real: String
        switch FileTrust.resolve(path) {
        case .success(let resolved): real = resolved
        case .failure(let failure): throw PluginLoadError(failure.kind, path: path, failure.reason)
        }
        if let pin {
            let actual: String
            do { actual = try FileTrust.sha256(ofFileAt: real) } catch {
                throw PluginLoadError(.notFound, path: path, "cannot be read to check its sha256: \(error.localizedDescription)")
            }
            guard actual == pin else {
                throw PluginLoadError(.checksumMismatch, path: path, "sha256 is \(actual) but the settings pin \(pin); refusing to load")
            }
        }
        if let (kind, reason) = ELFHeader.problem(withFileAt: real) { throw PluginLoadError(kind, path: path, reason) }
        return real
    }

    /// Maps the library and asks its entry for a descriptor (runs the plugin's constructors and
    /// entry: in a worker process unless the plugin is trusted).
    public static func open(path: String) throws(PluginLoadError) -> UnsafePointer<pos_plugin_descriptor> {
        switch PluginOpener.open(path: path) {
        case .success(let descriptor): return descriptor.pointer
        case .failure(let failure): throw error(opening: path, failure)
        }
    }

    /// Refuses a library whose descriptor names another plugin than its settings file.
    static func checkName(_ name: String, expected: String, path: String) throws(PluginLoadError) {
        guard name == expected else {
            throw PluginLoadError(
                .nameMismatch, path: path,
                "the library's descriptor names the plugin '\(name)' but its settings file is \(expected).yaml; rename the file to \(name).yaml")
        }
    }

    /// The error for a failed open, in this process or in a worker.
    static func error(opening path: String, _ failure: PluginOpener.Failure) -> PluginLoadError {
        switch failure.stage {
        case .dlopen:
            return PluginLoadError(.dlopenFailed, path: path, "dlopen failed: \(failure.detail)")
        case .missingEntry:
            return PluginLoadError(.missingEntry, path: path, "does not export \(POS_PLUGIN_ENTRY_SYMBOL): not a POS plugin")
        case .noDescriptor:
            return PluginLoadError(
                .noDescriptor, path: path,
                "its entry returned no descriptor: the plugin refuses this host's ABI \(hostABIMajor).\(hostABIMinor)")
        }
    }

    /// The longest name of a defined event type.
    public static let maximumEventTypeName = 64

    /// [A-Z][A-Z0-9_]{0,63}: the shape of the catalog's own names.
    static func isDefinableTypeName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maximumEventTypeName, (65...90).contains(first) else { return false }
        return bytes.allSatisfy { (65...90).contains($0) || (48...57).contains($0) || $0 == 95 }
    }

    /// Judges the event types a descriptor defines: names, descriptions and payload schemas.
    /// Conflicts with other plugins' types are judged when the plugin is installed
    /// (EventTypeRegistry), where the others are known.
    static func declaredEventTypes(
        _ raw: [RawDescriptor.DeclaredEventType]?, invalid: (String) -> PluginLoadError
    ) throws(PluginLoadError) -> [EventTypeDeclaration] {
        guard let raw else { return [] }
        guard raw.count <= RawDescriptor.maximumSubscriptions else { throw invalid("more than \(RawDescriptor.maximumSubscriptions) event types (is the list NULL-terminated?)") }
        var declared: [EventTypeDeclaration] = []
        for (index, entry) in raw.enumerated() {
            guard let name = entry.name else { throw invalid("event_types[\(index)] has no name (or its struct_size is too small)") }
            guard Self.isDefinableTypeName(name) else {
                throw invalid("event type '\(name.prefix(80))' must be 1-\(maximumEventTypeName) characters of [A-Z0-9_] starting with a letter")
            }
            if let spec = EventCatalog.standard.spec(for: name) {
                throw invalid("event type \(name) is already the catalog's \(spec.type) (docs/events.md); choose a name of your own, such as MYPLUGIN_\(name)")
            }
            guard !declared.contains(where: { $0.name == name }) else { throw invalid("event type \(name) is defined twice") }
            guard let description = entry.description, !description.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw invalid("event type \(name) has no description")
            }
            var schema: JSONValue?
            if let text = entry.payloadSchema {
                do {
                    let value = try JSONValue.parse(text)
                    _ = try JSONSchema(value)
                    schema = value
                } catch {
                    throw invalid("payload_schema of \(name): \(error)")
                }
            }
            declared.append(EventTypeDeclaration(name: name, description: description, payloadSchema: schema))
        }
        return declared
    }

    /// Judges a descriptor read in this process or in a worker.
    /// `hostMinor` is this host's minor version except in tests, which use it to show how a
    /// host of an older minor judges a newer plugin.
    public static func validate(_ d: RawDescriptor, path: String, hostMinor: UInt16 = hostABIMinor) throws(PluginLoadError) -> PluginDescription {
        func invalid(_ reason: String) -> PluginLoadError { PluginLoadError(.invalidDescriptor, path: path, "invalid descriptor: \(reason)") }
        let size = Int(d.structSize)
        guard size >= 8 else { throw invalid("struct_size \(size) is too small") }
        let major = d.abiMajor, minor = d.abiMinor
        guard major == hostABIMajor else {
            throw PluginLoadError(
                .abiMajorMismatch, path: path,
                "built for plugin ABI \(major).\(minor) but this host speaks \(hostABIMajor).\(hostABIMinor); rebuild the plugin against this host's pos_plugin.h")
        }
        guard minor <= hostMinor else {
            throw PluginLoadError(
                .abiMinorTooNew, path: path,
                "needs plugin ABI \(major).\(minor) but this host provides \(hostABIMajor).\(hostMinor); upgrade the host")
        }
        guard size >= RawDescriptor.minimumSize, d.complete else {
            throw invalid("struct_size \(size) is smaller than the \(RawDescriptor.minimumSize) bytes of ABI 1.0")
        }
        guard let name = d.name, PluginConfig.isValidName(name) else {
            throw invalid("name \(d.name.map { "'\($0)'" } ?? "NULL") must be 1-64 characters of [a-z0-9_] starting with a letter")
        }
        guard let version = d.version, !version.isEmpty else { throw invalid("version is missing") }
        guard let subscriptions = d.subscriptions else { throw invalid("subscriptions is NULL (use {\"*\", NULL} for every event type)") }
        guard subscriptions.count <= RawDescriptor.maximumSubscriptions else {
            throw invalid("more than \(RawDescriptor.maximumSubscriptions) subscriptions (is the list NULL-terminated?)")
        }
        for type in subscriptions where type != "*" && !Names.isEventType(type) {
            throw invalid("subscription '\(type)' is not an event type name")
        }
        guard !subscriptions.isEmpty else { throw invalid("subscribes to no event types") }
        if let emits = d.emits {
            guard emits.count <= RawDescriptor.maximumSubscriptions else { throw invalid("more than \(RawDescriptor.maximumSubscriptions) emitted types (is the list NULL-terminated?)") }
            for type in emits where !Names.isEventType(type) { throw invalid("emitted type '\(type)' is not an event type name") }
        }
        let eventTypes = try declaredEventTypes(d.eventTypes, invalid: invalid)
        guard d.hasVTable else { throw invalid("vtable is NULL") }
        guard Int(d.vtableSize) >= RawDescriptor.minimumVTableSize else {
            throw invalid("vtable struct_size \(d.vtableSize) is smaller than the \(RawDescriptor.minimumVTableSize) bytes of ABI 1.0")
        }
        guard d.hasCreate else { throw invalid("vtable.create is NULL") }
        guard d.hasDestroy else { throw invalid("vtable.destroy is NULL") }
        guard d.hasHandleEvent else { throw invalid("vtable.handle_event is NULL") }

        var schema: JSONSchema?
        var schemaValue: JSONValue?
        if let text = d.settingsSchema {
            do {
                let value = try JSONValue.parse(text)
                schema = try JSONSchema(value)
                schemaValue = value
            } catch {
                throw invalid("settings_schema: \(error)")
            }
        }
        var defaults = JSONValue.object([:])
        if let text = d.defaultSettings {
            do { defaults = try JSONValue.parse(text) } catch { throw invalid("default_settings: \(error)") }
            guard case .object = defaults else { throw invalid("default_settings must be a JSON object") }
        }
        if let schema {
            let violations = schema.violations(of: defaults)
            if !violations.isEmpty { throw invalid("default_settings do not satisfy the settings schema: \(violations[0])") }
        }
        let manifest = PluginManifest(
            name: name, version: version, description: d.description ?? "", abiMajor: Int(major),
            abiMinor: Int(minor), subscriptions: subscriptions, settingsSchema: schemaValue, defaultSettings: defaults,
            concurrentKeys: d.flags & POS_PLUGIN_FLAG_CONCURRENT_KEYS != 0,
            supportsReconfigure: d.hasReconfigure, supportsQuery: d.hasQuery,
            // A defined type is one the plugin emits: a declared list need not repeat it.
            emits: d.emits.map { listed in listed + eventTypes.map(\.name).filter { !listed.contains($0) } },
            eventTypes: eventTypes, headerHash: d.headerHash)
        return PluginDescription(path: path, manifest: manifest, schema: schema)
    }
}
