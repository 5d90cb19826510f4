/// The control socket protocol: one JSON request line, one JSON response line, per connection.
/// Documented in docs/pluginctl.md; `pluginctl` is its client.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable {
        /// Host and plugin status.
        case status
        /// Re-read config.yaml and plugins.d now and answer with what changed.
        case reload
        /// Run a plugin query: `plugin`, `query`, `request` (JSON text).
        case query
        /// Start `plugin` again from scratch (a new worker, a clean crash history): ends quarantine.
        case restart
        /// The event types this host accepts: the catalog's and those its plugins define.
        case events
    }

    public var command: Command
    public var plugin: String?
    public var query: String?
    public var request: String?
    /// For `query`: answer only once the plugin has handled every event at or before these
    /// positions (a caller's own events), waiting up to `waitMilliseconds`. A host that does
    /// not consume the plugin right now answers `not_owner`; one that has not caught up in
    /// time, `pending`.
    public var after: [QueryPosition]?
    public var waitMilliseconds: Int?

    /// A position on the bus: a topic's partition and an offset in it.
    public struct QueryPosition: Codable, Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public init(topic: String, partition: Int32, offset: Int64) {
            self.topic = topic
            self.partition = partition
            self.offset = offset
        }
    }

    enum CodingKeys: String, CodingKey {
        case command, plugin, query, request, after
        case waitMilliseconds = "wait_ms"
    }

    public init(command: Command, plugin: String? = nil, query: String? = nil, request: String? = nil, after: [QueryPosition]? = nil, waitMilliseconds: Int? = nil) {
        self.command = command
        self.plugin = plugin
        self.query = query
        self.request = request
        self.after = after
        self.waitMilliseconds = waitMilliseconds
    }
}

public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var status: HostStatus?
    public var reload: ReloadReport?
    /// Query answer as text (JSON by convention).
    public var answer: String?
    /// What a restart did.
    public var change: PluginChange?
    /// For `events`: every type the host accepts.
    public var eventTypes: [EventTypeInfo]?
    /// Why a request failed, for exit codes: `no_such_plugin`, `unknown_query`, `not_running`,
    /// `not_owner` and `pending` (a query with `after`),
    /// `bad_request`, `failed` (the plugin's own error).
    public var code: String?

    public init(
        ok: Bool, error: String? = nil, code: String? = nil, status: HostStatus? = nil, reload: ReloadReport? = nil, answer: String? = nil,
        change: PluginChange? = nil, eventTypes: [EventTypeInfo]? = nil
    ) {
        self.eventTypes = eventTypes
        self.ok = ok
        self.error = error
        self.code = code
        self.status = status
        self.reload = reload
        self.answer = answer
        self.change = change
    }
}

/// The whole host as `pluginctl status` shows it.
public struct HostStatus: Codable, Sendable, Equatable {
    public var pid: Int32
    public var version: String
    public var abi: String
    public var startedAtMilliseconds: Int64
    public var configGeneration: Int
    /// The last configuration error that was rejected (nil once a later reload succeeds cleanly).
    public var configErrors: [String]
    public var ingress: IngressCounters
    /// The Kafka cluster the host uses (the embedded one's address too), when configured.
    public var kafkaBootstrapServers: String?
    public var plugins: [PluginStatus]

    enum CodingKeys: String, CodingKey {
        case pid, version, abi, ingress, plugins
        case kafkaBootstrapServers = "kafka_bootstrap_servers"
        case startedAtMilliseconds = "started_at_ms"
        case configGeneration = "config_generation"
        case configErrors = "config_errors"
    }
}

/// What came in through the event source.
public struct IngressCounters: Codable, Sendable, Equatable {
    public var received: Int
    public var malformed: Int
    /// Events no running plugin subscribes to.
    public var unrouted: Int
    /// Dead letters the sink refused (each is retried; the input stays unsettled until written).
    public var deadLetterFailures: Int?
    /// The last such refusal.
    public var lastDeadLetterError: String?
    /// Dead letters refused and waiting for their next attempt (their partitions are paused).
    public var deadLettersPending: Int?
    /// Records dead-lettered because they were being decoded when the host died several
    /// starts in a row (``DecodeCrashJournal``).
    public var poisonRecords: [String]?
}

/// One event type as `pluginctl events` shows it.
public struct EventTypeInfo: Codable, Sendable, Equatable {
    public var name: String
    /// "catalog", or "plugin:NAME" for a type a plugin defines.
    public var definedBy: String
    public var description: String
    /// Other names accepted at the ingress for this type (the original's).
    public var aliases: [String]
    /// The payload's fields (catalog) or JSON Schema (plugin), as JSON text.
    public var payload: String

    enum CodingKeys: String, CodingKey {
        case name, description, aliases, payload
        case definedBy = "defined_by"
    }

    public init(name: String, definedBy: String, description: String, aliases: [String], payload: String) {
        self.name = name
        self.definedBy = definedBy
        self.description = description
        self.aliases = aliases
        self.payload = payload
    }
}
