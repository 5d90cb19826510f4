import Foundation
import POSPlatform

/// pos-api's settings: the `api:` section of config.yaml, with `database.url` and
/// `kafka.bootstrap_servers` / `kafka.topics[0]` shared with pos-host (docs/configuration.md).
public struct ApiConfig: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var databaseURL: String?
    public var bootstrapServers = "embedded"
    public var topic = "pos-events"
    public var kafkaProperties: [String: String] = [:]
    /// How long a sign-in lasts.
    public var tokenLifetimeSeconds = 12 * 3600
    /// Failed sign-ins within `lockoutWindowSeconds`, per user and per address, before refusing.
    public var lockoutFailures = 5
    public var lockoutWindowSeconds = 900
    public var maxBodyBytes = 64 * 1024
    public var maxQueryDepth = 12
    public var maxQueryFields = 400
    public var databaseConnections = 8
    /// Voiding a line worth more than this needs a manager's approval (integer cents).
    public var voidApprovalCents = 5000
    /// Tax per tax class in basis points (825 = 8.25%); a class not listed is untaxed.
    public var taxRates: [String: Int] = [:]
    /// The simulated card terminal's rules (integer cents): amounts from `declineFromCents`
    /// are declined, from `timeoutFromCents` time out.
    public var cardDeclineFromCents = 1_000_000
    public var cardTimeoutFromCents = 2_000_000
    public var cardTimeoutMilliseconds = 3000
    /// pos-host control sockets asked for plugin decisions, in order.
    public var hostSockets: [String] = []
    /// How long a decision may wait for the plugin to handle the basket's events.
    public var decisionWaitMilliseconds = 2000
    /// Whether a payment may go ahead when a plugin cannot answer: per plugin, `open` (allow)
    /// or `closed` (refuse). Defaults: age_verification closed, fraud_detection open.
    public var failOpen: [String: Bool] = ["age_verification": false, "fraud_detection": true]
    /// Addresses allowed to read the customer directory (`/customers/...`): the pos-host
    /// machines that run customer_lookup.
    public var directoryClients: [String] = ["127.0.0.1", "::1"]
    /// Where the static UI is served from, when set.
    public var staticDirectory: String?
    /// Live pushes (`api.live`, docs/live.md).
    public var live = LiveSettings()

    public init() {}

    static let apiKeys = [
        "listen", "token_lifetime_s", "lockout_failures", "lockout_window_s", "max_body_bytes", "max_query_depth", "max_query_fields",
        "database_connections", "void_approval_cents", "tax_rates", "card_terminal", "host_sockets", "decision_wait_ms", "fail_open", "static_dir",
        "directory_clients", "live",
    ]

    /// Reads config.yaml text. Only the `api:` section is checked strictly (the rest is
    /// pos-host's, which checks it).
    public static func parse(_ text: String, path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ApiConfig {
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ value: String) -> String { value.hasPrefix("/") || base.isEmpty ? value : base + "/" + value }
        var config = ApiConfig()
        let root = try YAMLParser.parse(text, file: path)
        let tree = root.jsonValue.objectValue ?? [:]
        if let url = tree["database"]?["url"]?.stringValue, !url.isEmpty {
            if url.hasPrefix("env:") {
                config.databaseURL = environment[String(url.dropFirst(4))]
            } else {
                config.databaseURL = url
            }
        }
        if let servers = tree["kafka"]?["bootstrap_servers"]?.stringValue { config.bootstrapServers = servers }
        if let topic = tree["kafka"]?["topics"]?.arrayValue?.first?.stringValue { config.topic = topic }
        if case .object(let properties)? = tree["kafka"]?["properties"] {
            for (key, value) in properties { config.kafkaProperties[key] = value.stringValue ?? value.jsonText }
        }
        var reader = try MappingReader(root, what: "config.yaml")
        if var api = try reader.section("api") {
            if let node = api.raw("listen") {
                guard let text = node.jsonValue.stringValue, let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                    (0...65535).contains(port), colon != text.startIndex
                else { throw ConfigError("'listen' must be host:port such as 127.0.0.1:8080", at: node.mark) }
                config.host = String(text[..<colon])
                config.port = port
            }
            if let value = try api.integer("token_lifetime_s", in: 60...(30 * 86_400)) { config.tokenLifetimeSeconds = value }
            if let value = try api.integer("lockout_failures", in: 1...1000) { config.lockoutFailures = value }
            if let value = try api.integer("lockout_window_s", in: 1...86_400) { config.lockoutWindowSeconds = value }
            if let value = try api.integer("max_body_bytes", in: 1024...(16 << 20)) { config.maxBodyBytes = value }
            if let value = try api.integer("max_query_depth", in: 2...64) { config.maxQueryDepth = value }
            if let value = try api.integer("max_query_fields", in: 10...100_000) { config.maxQueryFields = value }
            if let value = try api.integer("database_connections", in: 1...256) { config.databaseConnections = value }
            if let value = try api.integer("void_approval_cents", in: 0...100_000_000) { config.voidApprovalCents = value }
            if let value = try api.integer("decision_wait_ms", in: 0...60_000) { config.decisionWaitMilliseconds = value }
            if let value = try api.string("static_dir") { config.staticDirectory = resolve(value) }
            if let sockets = try api.stringList("host_sockets") { config.hostSockets = sockets.map(resolve) }
            if let clients = try api.stringList("directory_clients") { config.directoryClients = clients }
            if let node = api.raw("tax_rates") {
                guard case .object(let rates) = node.jsonValue else { throw ConfigError("'tax_rates' must map tax classes to basis points", at: node.mark) }
                for (name, value) in rates {
                    guard let points = value.exactInteger, (0...10_000).contains(points) else {
                        throw ConfigError("tax rate '\(name)' must be whole basis points from 0 to 10000 (825 = 8.25%)", at: node.mark)
                    }
                    config.taxRates[name] = Int(points)
                }
            }
            if let node = api.raw("fail_open") {
                guard case .object(let flags) = node.jsonValue else { throw ConfigError("'fail_open' must map plugin names to true or false", at: node.mark) }
                for (name, value) in flags {
                    guard case .bool(let open) = value else { throw ConfigError("fail_open '\(name)' must be true or false", at: node.mark) }
                    config.failOpen[name] = open
                }
            }
            if var card = try api.section("card_terminal") {
                if let value = try card.integer("decline_from_cents", in: 0...Int(Int32.max)) { config.cardDeclineFromCents = value }
                if let value = try card.integer("timeout_from_cents", in: 0...Int(Int32.max)) { config.cardTimeoutFromCents = value }
                if let value = try card.integer("timeout_ms", in: 1...60_000) { config.cardTimeoutMilliseconds = value }
                try card.rejectUnknownKeys(allowed: ["decline_from_cents", "timeout_from_cents", "timeout_ms"])
            }
            if var live = try api.section("live") {
                if let value = try live.integer("retention_s", in: 1...86_400) { config.live.retentionSeconds = value }
                if let value = try live.integer("retained_events", in: 100...10_000_000) { config.live.retainedEvents = value }
                if let value = try live.integer("retained_mb", in: 1...65_536) { config.live.retainedMegabytes = value }
                if let value = try live.integer("subscriber_buffer", in: 1...1_000_000) { config.live.subscriberBuffer = value }
                if let value = try live.integer("init_timeout_ms", in: 100...600_000) { config.live.initTimeoutMilliseconds = value }
                if let value = try live.integer("revoked_grace_ms", in: 0...60_000) { config.live.revokedGraceMilliseconds = value }
                if let value = try live.integer("max_subscriptions", in: 1...10_000) { config.live.maxSubscriptionsPerConnection = value }
                if let value = try live.integer("session_check_s", in: 1...3_600) { config.live.sessionCheckSeconds = value }
                try live.rejectUnknownKeys(allowed: [
                    "retention_s", "retained_events", "retained_mb", "subscriber_buffer", "init_timeout_ms", "revoked_grace_ms", "max_subscriptions", "session_check_s",
                ])
            }
            try api.rejectUnknownKeys(allowed: apiKeys)
        }
        if config.databaseURL == nil, let url = environment["POS_DATABASE_URL"], !url.isEmpty { config.databaseURL = url }
        return config
    }

    public static func load(path: String) throws(ConfigError) -> ApiConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read: \(error.localizedDescription)", at: SourceMark(file: path, line: 1, column: 1))
        }
        return try parse(text, path: path)
    }
}

/// How live pushes behave (`api.live` in config.yaml).
public struct LiveSettings: Sendable, Equatable {
    /// How long, and how many, recent events are kept so a reconnecting client can resume.
    public var retentionSeconds = 600
    public var retainedEvents = 50_000
    public var retainedMegabytes = 64
    /// Messages a client may have waiting before it is closed as too slow (1013).
    public var subscriberBuffer = 512
    /// graphql-transport-ws: how long a client has to send connection_init (then 4408).
    public var initTimeoutMilliseconds = 3_000
    /// A revoked session's sockets close this long after the revocation is seen, so the push
    /// telling the till why (SESSION_TERMINATED) still reaches it.
    public var revokedGraceMilliseconds = 1_000
    public var maxSubscriptionsPerConnection = 100
    /// Every socket's token is checked again this often (expiry).
    public var sessionCheckSeconds = 30

    public init() {}
}
