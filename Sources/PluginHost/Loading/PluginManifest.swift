/// A validated Swift copy of a plugin's `pos_plugin_descriptor` (what `pluginctl inspect` shows).
public struct PluginManifest: Sendable, Equatable, Codable {
    public var name: String
    public var version: String
    public var description: String
    public var abiMajor: Int
    public var abiMinor: Int
    public var subscriptions: [String]
    /// The settings schema, or nil when the plugin accepts any settings object.
    public var settingsSchema: JSONValue?
    public var defaultSettings: JSONValue
    public var concurrentKeys: Bool
    public var supportsReconfigure: Bool
    public var supportsQuery: Bool
    /// The event types the plugin may emit (ABI 1.1); nil: any.
    public var emits: [String]? = nil
    /// The event types the plugin defines (ABI 1.1); empty for a plugin that defines none.
    public var eventTypes: [EventTypeDeclaration] = []
    /// The POS_PLUGIN_HEADER_HASH the plugin was built with (ABI 1.1), when it reports one.
    public var headerHash: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, version, description, subscriptions
        case abiMajor = "abi_major"
        case abiMinor = "abi_minor"
        case settingsSchema = "settings_schema"
        case defaultSettings = "default_settings"
        case concurrentKeys = "concurrent_keys"
        case supportsReconfigure = "supports_reconfigure"
        case supportsQuery = "supports_query"
        case emits
        case eventTypes = "event_types"
        case headerHash = "header_hash"
    }

    /// Whether the plugin wants events of `type`.
    public func subscribes(to type: String, override: [String]?) -> Bool {
        let list = override ?? subscriptions
        return list.contains("*") || list.contains(type)
    }
}

/// An event type a plugin defines (`pos_event_type`), validated.
public struct EventTypeDeclaration: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    /// The payload's JSON Schema, or nil when any object is accepted.
    public var payloadSchema: JSONValue?

    enum CodingKeys: String, CodingKey {
        case name, description
        case payloadSchema = "payload_schema"
    }

    public init(name: String, description: String, payloadSchema: JSONValue?) {
        self.name = name
        self.description = description
        self.payloadSchema = payloadSchema
    }
}
