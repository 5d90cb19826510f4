import PluginABI

/// What a Swift plugin is: a type the SDK instantiates once per plugin instance.
///
/// Isolation contract: the host never calls one instance concurrently unless
/// ``PluginDescriptor/concurrentKeys`` is true, in which case ``handle(_:host:)`` may run
/// concurrently for events with different keys and the type must protect its own state.
/// Keep durable state in ``PluginHost/state`` rather than in stored properties: the host may
/// re-create an instance (reconfigure, restart) at any event boundary.
public protocol POSPlugin: AnyObject {
    /// The static description of the plugin; read once, when the host loads the library.
    static var descriptor: PluginDescriptor { get }

    /// Creates an instance with settings already merged with the defaults and validated against
    /// the schema. Throwing makes the load fail with the error's description.
    init(settings: PluginSettings, host: PluginHost) throws

    /// Handles one event. Returning means handled: the call's state changes and emitted events
    /// are committed. Throw ``PluginError/retryLater(_:)`` for a transient failure or
    /// ``PluginError/reject(_:)`` for poison; a `DecodingError` counts as poison and any other
    /// error as transient.
    func handle(_ event: PluginEvent, host: PluginHost) throws

    /// Applies new settings without losing the instance. The default implementation replaces the
    /// instance with a fresh one created from the new settings, which is right for plugins that
    /// keep their state in the host's state service.
    func reconfigure(settings: PluginSettings, host: PluginHost) throws

    /// Answers a named query with response bytes (JSON by convention). The default throws
    /// ``PluginError/unknownQuery(_:)``.
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8]
}

/// Marker used by the SDK's default `reconfigure`: it asks the trampoline to swap in a new instance.
struct ReplaceInstanceRequest: Error {}

extension POSPlugin {
    public func reconfigure(settings: PluginSettings, host: PluginHost) throws {
        throw ReplaceInstanceRequest()
    }

    public func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        throw PluginError.unknownQuery(name)
    }
}

/// Errors with a defined meaning at the ABI boundary.
public enum PluginError: Error, CustomStringConvertible {
    /// Transient: the host retries with backoff, then dead-letters.
    case retryLater(String)
    /// Poison: the host dead-letters the event at once.
    case reject(String)
    /// The query name is not one this plugin answers.
    case unknownQuery(String)
    /// Settings that passed the schema but make no sense together.
    case invalidSettings(String)

    public var description: String {
        switch self {
        case .retryLater(let reason): return "retry later: \(reason)"
        case .reject(let reason): return "rejected: \(reason)"
        case .unknownQuery(let name): return "unknown query '\(name)'"
        case .invalidSettings(let reason): return "invalid settings: \(reason)"
        }
    }
}

/// The static description a plugin gives of itself (see `pos_plugin_descriptor`).
public struct PluginDescriptor: Sendable {
    public var name: String
    public var version: String
    public var description: String
    /// Canonical event types handled; `["*"]` means every type.
    public var subscriptions: [String]
    /// JSON Schema of the settings object, or nil to accept any object.
    public var settingsSchema: String?
    /// Default settings as a JSON object, or nil for `{}`.
    public var defaultSettings: String?
    /// Whether ``POSPlugin/handle(_:host:)`` may run concurrently for different keys.
    public var concurrentKeys: Bool
    /// The event types the plugin may emit; nil: any. Declare them: emitting another type then
    /// fails, and only plugins taking one of these types wait for this plugin's progress.
    public var emits: [String]?
    /// The event types this plugin defines (ABI 1.1): the host adds them to its catalog while
    /// the plugin is installed, checks emitted payloads against their schemas and routes them
    /// to the plugins that subscribe to them. They need not be repeated in ``emits``.
    public var eventTypes: [EventTypeDefinition]

    public init(
        name: String, version: String, description: String = "", subscriptions: [String], emits: [String]? = nil,
        eventTypes: [EventTypeDefinition] = [], settingsSchema: String? = nil, defaultSettings: String? = nil, concurrentKeys: Bool = false
    ) {
        self.emits = emits
        self.eventTypes = eventTypes
        self.name = name
        self.version = version
        self.description = description
        self.subscriptions = subscriptions
        self.settingsSchema = settingsSchema
        self.defaultSettings = defaultSettings
        self.concurrentKeys = concurrentKeys
    }
}

/// An event type a plugin defines (`pos_event_type`).
public struct EventTypeDefinition: Sendable {
    /// `[A-Z][A-Z0-9_]*`, at most 64 characters; prefix it with something of your own.
    public var name: String
    /// One line: what happened.
    public var description: String
    /// JSON Schema every payload must satisfy, or nil for any object.
    public var payloadSchema: String?

    public init(name: String, description: String, payloadSchema: String? = nil) {
        self.name = name
        self.description = description
        self.payloadSchema = payloadSchema
    }
}
