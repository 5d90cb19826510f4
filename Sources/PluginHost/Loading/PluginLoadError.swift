/// Why a plugin file could not be loaded. Each case renders as one line naming the file and
/// the reason, with what to do where there is something to do.
public struct PluginLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case notFound = "not_found"
        case unsafePermissions = "unsafe_permissions"
        case checksumMismatch = "checksum_mismatch"
        case notELF = "not_elf"
        case wrongArchitecture = "wrong_architecture"
        case dlopenFailed = "dlopen_failed"
        case missingEntry = "missing_entry"
        case noDescriptor = "no_descriptor"
        case abiMajorMismatch = "abi_major_mismatch"
        case abiMinorTooNew = "abi_minor_too_new"
        case invalidDescriptor = "invalid_descriptor"
        case nameMismatch = "name_mismatch"
        case eventTypeConflict = "event_type_conflict"
        case settingsRejected = "settings_rejected"
        case createFailed = "create_failed"
        case isolationUnavailable = "isolation_unavailable"
        case crashed = "crashed"
    }

    public var kind: Kind
    public var path: String
    public var reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
