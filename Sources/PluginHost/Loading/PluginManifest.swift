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
    }

    /// Whether the plugin wants events of `type`.
    public func subscribes(to type: String, override: [String]?) -> Bool {
        let list = override ?? subscriptions
        return list.contains("*") || list.contains(type)
    }
}
