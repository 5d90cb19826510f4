import Foundation

/// Host settings from `config.yaml`. Relative paths are resolved against the file's directory.
public struct HostConfig: Sendable, Equatable {
    public var pluginsDirectory: String
    public var controlSocket: String
    public var deadLetterFile: String
    public var emittedEventsFile: String
    /// The host's own small files (the decode crash journal); `state_dir`, default `var`.
    public var stateDirectory: String
    public var logLevel: String
    public var dispatch: DispatchDefaults
    /// PostgreSQL connection string (libpq keywords or a postgresql:// URL): with it, plugin
    /// state is durable and plugin configuration lives in the database.
    public var databaseURL: String?
    /// How long startup waits for an unreachable database before giving up.
    public var databaseConnectTimeoutSeconds = 30
    /// Defaults for worker processes (a plugin's settings file may override each key).
    public var supervision = SupervisionSettings()
    public var maxEventBytes: Int
    /// Whether events of types missing from the catalog are routed (true) or dead-lettered.
    public var acceptUnknownEventTypes = false
    /// The Kafka bus, when configured (else events come from --events).
    public var kafka: KafkaSettings?
    /// `host:port` to serve Prometheus metrics on (`GET /metrics`), when set.
    public var metricsListen: String?

    /// The `kafka:` section.
    public struct KafkaSettings: Sendable, Equatable {
        /// `embedded` (librdkafka's mock cluster inside the host) or `host:port,...`.
        public var bootstrapServers = "embedded"
        public var topics = ["pos-events"]
        /// Consumer groups are `<group_prefix>.<plugin>` (and `<group_prefix>.ingress`).
        public var groupPrefix = "pos-host"
        /// Dead letters go to `<topic><dead_letter_suffix>`.
        public var deadLetterSuffix = ".dlq"
        /// Where events emitted by plugins are produced (default: the first topic).
        public var emitTopic: String?
        /// The consumers' fetch.wait.max.ms: the latency floor with an idle topic.
        public var fetchWaitMilliseconds = 10
        /// Partitions of the topics the embedded cluster creates.
        public var embeddedPartitions = 3
        /// Extra librdkafka properties for every client (security.protocol, sasl.*, ...).
        public var properties: [String: String] = [:]
        public init() {}

        public var effectiveEmitTopic: String { emitTopic ?? topics[0] }
    }

    /// Defaults for every plugin's dispatcher; a plugin's settings file may override some.
    public struct DispatchDefaults: Sendable, Equatable {
        /// Events queued per plugin before routing waits (backpressure).
        public var queueCapacity = 1024
        /// Parallel lanes (by key) for plugins that allow concurrent keys.
        public var lanes = 4
        /// Attempts before an event that keeps asking for a retry is dead-lettered.
        public var maxAttempts = 5
        public var backoffInitialMilliseconds = 100
        public var backoffMaxMilliseconds = 10_000
        /// Events handed to a plugin per batch (amortises locking and, later, IPC).
        public var batchSize = 32
        public init() {}
    }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The configuration used when there is no config.yaml: everything next to the working directory.
    public static func defaults(baseDirectory: String) -> HostConfig {
        HostConfig(
            pluginsDirectory: baseDirectory + "/plugins.d", controlSocket: baseDirectory + "/run/pos-host.sock",
            deadLetterFile: baseDirectory + "/var/dead-letters.jsonl",
            emittedEventsFile: baseDirectory + "/var/emitted-events.jsonl", stateDirectory: baseDirectory + "/var", logLevel: "info",
            dispatch: DispatchDefaults(), maxEventBytes: 1 << 20)
    }

    static let topLevelKeys = ["api", "plugins_dir", "control_socket", "dead_letter_file", "emitted_events_file", "state_dir", "log_level", "metrics_listen", "dispatch", "supervision", "events", "kafka", "database"]
    static let kafkaKeys = ["bootstrap_servers", "topics", "group_prefix", "dead_letter_suffix", "emit_topic", "fetch_wait_ms", "embedded_partitions", "properties"]
    static let dispatchKeys = ["queue_capacity", "lanes", "max_attempts", "backoff_initial_ms", "backoff_max_ms", "batch_size"]

    /// What an admin tool needs from a config.yaml that fails validation: the paths (control
    /// socket, plugins directory) and the database, read from whatever parses, defaults for the
    /// rest. pluginctl uses it so that `status` and friends still reach a running host (which
    /// kept its last good configuration) while the file is being fixed.
    public static func lenient(_ text: String, path: String) -> HostConfig {
        let base = (path as NSString).deletingLastPathComponent
        var config = defaults(baseDirectory: base.isEmpty ? "." : base)
        func resolve(_ value: String) -> String { value.hasPrefix("/") ? value : (base.isEmpty ? value : base + "/" + value) }
        guard let root = (try? YAMLParser.parse(text, file: path))?.jsonValue.objectValue else { return config }
        if let value = root["plugins_dir"]?.stringValue, !value.isEmpty { config.pluginsDirectory = resolve(value) }
        if let value = root["control_socket"]?.stringValue, !value.isEmpty { config.controlSocket = resolve(value) }
        if let url = root["database"]?["url"]?.stringValue, !url.isEmpty, !url.hasPrefix("env:") { config.databaseURL = url }
        return config
    }

    /// Parses config.yaml text; `path` names the file in errors and anchors relative paths.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> HostConfig {
        let base = (path as NSString).deletingLastPathComponent
        var config = defaults(baseDirectory: base.isEmpty ? "." : base)
        func resolve(_ value: String) -> String { value.hasPrefix("/") ? value : (base.isEmpty ? value : base + "/" + value) }

        var root = try MappingReader(YAMLParser.parse(text, file: path), what: "config.yaml")
        if let value = try root.string("plugins_dir") { config.pluginsDirectory = resolve(value) }
        if let value = try root.string("control_socket") { config.controlSocket = resolve(value) }
        if let value = try root.string("dead_letter_file") { config.deadLetterFile = resolve(value) }
        if let value = try root.string("emitted_events_file") { config.emittedEventsFile = resolve(value) }
        if let value = try root.string("state_dir") { config.stateDirectory = resolve(value) }
        if let node = root.raw("metrics_listen") {
            guard let value = node.jsonValue.stringValue, value.range(of: #"^[0-9.]+:[0-9]{1,5}$"#, options: .regularExpression) != nil else {
                throw ConfigError("'metrics_listen' must be an IPv4 host:port such as 127.0.0.1:9464", at: node.mark)
            }
            config.metricsListen = value
        }
        if let node = root.raw("log_level") {
            guard let level = node.jsonValue.stringValue, logLevels.contains(level) else {
                throw ConfigError("'log_level' must be one of \(logLevels.joined(separator: ", "))", at: node.mark)
            }
            config.logLevel = level
        }
        if var dispatch = try root.section("dispatch") {
            var defaults = config.dispatch
            if let value = try dispatch.integer("queue_capacity", in: 1...1_000_000) { defaults.queueCapacity = value }
            if let value = try dispatch.integer("lanes", in: 1...64) { defaults.lanes = value }
            if let value = try dispatch.integer("max_attempts", in: 1...100) { defaults.maxAttempts = value }
            if let value = try dispatch.integer("backoff_initial_ms", in: 0...600_000) { defaults.backoffInitialMilliseconds = value }
            if let value = try dispatch.integer("backoff_max_ms", in: 0...3_600_000) { defaults.backoffMaxMilliseconds = value }
            if let value = try dispatch.integer("batch_size", in: 1...1024) { defaults.batchSize = value }
            try dispatch.rejectUnknownKeys(allowed: dispatchKeys)
            config.dispatch = defaults
        }
        if var section = try root.section("database") {
            if let node = section.raw("url") {
                guard var url = node.jsonValue.stringValue, !url.isEmpty else { throw ConfigError("'url' must be a connection string", at: node.mark) }
                if url.hasPrefix("env:") {
                    let variable = String(url.dropFirst(4))
                    guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                        throw ConfigError("'url' names the environment variable \(variable), which is not set", at: node.mark)
                    }
                    url = value
                }
                config.databaseURL = url
            }
            if let value = try section.integer("connect_timeout_s", in: 0...3600) { config.databaseConnectTimeoutSeconds = value }
            try section.rejectUnknownKeys(allowed: ["url", "connect_timeout_s"])
        }
        if var section = try root.section("supervision") {
            config.supervision = config.supervision.applying(try SupervisionSettings.overrides(from: &section))
        }
        if var events = try root.section("events") {
            if let value = try events.integer("max_event_bytes", in: 256...(64 << 20)) { config.maxEventBytes = value }
            if let node = events.raw("unknown_types") {
                guard let policy = node.jsonValue.stringValue, ["reject", "accept"].contains(policy) else {
                    throw ConfigError("'unknown_types' must be reject or accept", at: node.mark)
                }
                config.acceptUnknownEventTypes = policy == "accept"
            }
            try events.rejectUnknownKeys(allowed: ["max_event_bytes", "unknown_types"])
        }
        if var section = try root.section("kafka") {
            var kafka = KafkaSettings()
            if let value = try section.string("bootstrap_servers") { kafka.bootstrapServers = value }
            if let node = section.raw("topics") {
                guard case .array(let items) = node.jsonValue, !items.isEmpty, items.allSatisfy({ $0.stringValue.map { !$0.isEmpty } ?? false }) else {
                    throw ConfigError("'topics' must be a non-empty list of topic names", at: node.mark)
                }
                kafka.topics = items.compactMap(\.stringValue)
            }
            if let value = try section.string("group_prefix") { kafka.groupPrefix = value }
            if let value = try section.string("dead_letter_suffix") { kafka.deadLetterSuffix = value }
            kafka.emitTopic = try section.string("emit_topic")
            if let value = try section.integer("fetch_wait_ms", in: 1...5_000) { kafka.fetchWaitMilliseconds = value }
            if let value = try section.integer("embedded_partitions", in: 1...64) { kafka.embeddedPartitions = value }
            if let node = section.raw("properties") {
                guard case .object(let members) = node.jsonValue else { throw ConfigError("'properties' must be a mapping", at: node.mark) }
                for (key, value) in members {
                    switch value {
                    case .string(let text): kafka.properties[key] = text
                    case .number, .bool: kafka.properties[key] = value.jsonText
                    default: throw ConfigError("kafka property '\(key)' must be a scalar", at: node.mark)
                    }
                }
            }
            try section.rejectUnknownKeys(allowed: kafkaKeys)
            config.kafka = kafka
        }
        _ = root.raw("api")  // pos-api's section: pos-api checks it
        try root.rejectUnknownKeys(allowed: topLevelKeys)
        return config
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(ConfigError) -> HostConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read: \(error.localizedDescription)", at: SourceMark(file: path, line: 1, column: 1))
        }
        var config = try parse(text, path: path)
        // The deployment may supply the database without editing the file (scripts/demo does).
        if config.databaseURL == nil, let url = ProcessInfo.processInfo.environment["POS_DATABASE_URL"], !url.isEmpty {
            config.databaseURL = url
        }
        // And the Kafka cluster (scripts/demo points host and API at one pos-kafka-mock).
        if config.kafka != nil, let servers = ProcessInfo.processInfo.environment["POS_KAFKA_BOOTSTRAP_SERVERS"], !servers.isEmpty {
            config.kafka?.bootstrapServers = servers
        }
        return config
    }
}
