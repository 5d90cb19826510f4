/// One plugin as `pluginctl status` shows it.
public struct PluginStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Loaded, created and receiving events.
        case running
        /// Configured off (or its settings file was removed).
        case disabled
        /// Configured on, but it could not be loaded or created: see `lastError`.
        case failed
        /// A `.so` in the plugins directory without a settings file.
        case unconfigured
        /// Stopped after repeated crashes of its worker: see `lastError`; `pluginctl restart`.
        case quarantined
    }

    public var name: String
    public var state: State
    public var enabled: Bool
    public var version: String?
    public var library: String
    public var isolation: String
    public var subscriptions: [String]
    public var lanes: Int
    /// The last load, create or reconfigure failure, if any since the last success.
    public var lastError: String?
    /// An invalid edit of the settings file, rejected (the last good settings stay in force).
    public var configError: String?
    public var settings: JSONValue?
    public var metrics: PluginMetricsSnapshot
    /// Events on the bus not yet committed for this plugin (Kafka only).
    public var lag: Int64? = nil
    /// With several hosts on one database: whether this host holds the plugin's lease and
    /// consumes it (false: standby, another host does). Nil without shared ownership.
    public var consumedHere: Bool? = nil
    /// Events handled per second over the last ~10 s.
    public var handledPerSecond: Double? = nil
    /// The worker process (isolation: process).
    public var worker: WorkerStatus? = nil
    /// The JSON Schema the plugin declares for its settings (nil: any object), and its
    /// defaults, so that an admin screen can build a form and check a change before saving it.
    public var settingsSchema: JSONValue? = nil
    public var defaultSettings: JSONValue? = nil

    enum CodingKeys: String, CodingKey {
        case name, state, enabled, version, library, isolation, subscriptions, lanes, settings, metrics, lag, worker
        case handledPerSecond = "handled_per_second"
        case lastError = "last_error"
        case configError = "config_error"
        case consumedHere = "consumed_here"
        case settingsSchema = "settings_schema"
        case defaultSettings = "default_settings"
    }
}

/// What one reload did to one plugin.
public struct PluginChange: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        case started, stopped, reconfigured, restarted, upgraded, unchanged, failed, rejected
    }

    public var plugin: String
    public var action: Action
    public var detail: String?

    public init(plugin: String, action: Action, detail: String? = nil) {
        self.plugin = plugin
        self.action = action
        self.detail = detail
    }
}

/// The result of applying configuration from disk.
public struct ReloadReport: Codable, Sendable, Equatable {
    public var generation: Int
    public var trigger: String
    public var changes: [PluginChange]
    /// Files that were rejected, "file:line:column: message".
    public var errors: [String]
    public var plugins: [PluginStatus]
}
