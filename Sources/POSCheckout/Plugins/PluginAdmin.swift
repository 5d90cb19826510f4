import POSPlatform

/// A plugin as the admin page and the original's `plugins` query see it: its configuration
/// row in PostgreSQL (the store pluginctl and every host use) and, when a host answers, its
/// running state and counters.
public struct PluginView: Sendable {
    let id: String
    let name: String
    let enabled: Bool
    let isolation: String
    /// The plugin's settings as JSON text.
    let config: String
    let configVersion: String
    let updatedBy: String
    let state: String?
    let version: String?
    let lastError: String?
    let subscriptions: [String]
    let supportedEvents: [String]
    let handled: Int?
    let failed: Int?
    let deadLettered: Int?
    let queueDepth: Int?
    let lag: String?
}

/// One change in a plugin's audit trail.
public struct PluginAuditView: Sendable {
    let version: String
    let changedBy: String
    let change: String
}

/// The plugins' configuration through the same PostgreSQL store as pluginctl: a change made
/// here is seen by pluginctl and every host (NOTIFY), and the reverse.
public struct PluginAdmin: Sendable {
    let database: Database
    let config: ApiConfig
    let decisions: any DecisionSource

    public func list() async throws -> [PluginView] {
        let store = PostgresConfigStore(pool: database.pool)
        let rows = try await database.run { _ in try store.rows() }
        let status = await decisions.hostStatus()
        var running: [String: JSONValue] = [:]
        for plugin in status?["plugins"]?.arrayValue ?? [] {
            if let name = plugin["name"]?.stringValue { running[name] = plugin }
        }
        let names = Set(rows.keys).union(running.keys).sorted()
        return names.map { name in
            let row = rows[name]
            let live = running[name]
            let metrics = live?["metrics"]
            let subscriptions = live?["subscriptions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return PluginView(
                id: name, name: name, enabled: row?.enabled ?? (live?["enabled"] == .bool(true)), isolation: row?.isolation.rawValue ?? live?["isolation"]?.stringValue ?? "process",
                config: (row?.settings ?? live?["settings"] ?? .object([:])).jsonText, configVersion: String(row?.version ?? 0), updatedBy: row?.updatedBy ?? "",
                state: live?["state"]?.stringValue, version: live?["version"]?.stringValue, lastError: live?["last_error"]?.stringValue,
                subscriptions: subscriptions, supportedEvents: subscriptions,
                handled: metrics?["handled"]?.exactInteger.map { Int($0) }, failed: metrics?["failed"]?.exactInteger.map { Int($0) },
                deadLettered: metrics?["dead_lettered"]?.exactInteger.map { Int($0) }, queueDepth: metrics?["queue_depth"]?.exactInteger.map { Int($0) },
                lag: live?["lag"]?.exactInteger.map { String($0) })
        }
    }

    /// Enables or disables a plugin (ADMIN). Settings are changed with pluginctl, which checks
    /// them against the plugin's own schema; a `config` here is refused with that advice.
    public func update(name: String, enabled: Bool?, by principal: Principal) async throws -> PluginView {
        try principal.require(.admin, to: "changing plugins")
        guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw CheckoutError.badInput("no plugin named \(name)")
        }
        let store = PostgresConfigStore(pool: database.pool)
        let exists = try await database.run { _ in try store.rows()[name] != nil }
        guard exists else { throw CheckoutError.notFound("no plugin named \(name) in the configuration store") }
        if let enabled {
            let author = "pos-api:\(principal.username)"
            try await database.run { _ in
                try store.write(name: name, by: author) { row in
                    (enabled, row?.isolation ?? .process, row?.settings ?? .object([:]))
                }
            }
        }
        guard let view = try await list().first(where: { $0.name == name }) else { throw CheckoutError.notFound("no plugin named \(name)") }
        return view
    }

    public func audit(name: String, by principal: Principal) async throws -> [PluginAuditView] {
        try principal.require(.admin, to: "reading the plugins' audit trail")
        let store = PostgresConfigStore(pool: database.pool)
        return try await database.run { _ in
            try store.audit(name: name).map { PluginAuditView(version: String($0.version), changedBy: $0.by, change: $0.change.jsonText) }
        }
    }

    /// A plugin query through the hosts, without waiting for positions (reads for screens).
    public func query(_ plugin: String, _ query: String, _ request: JSONValue, after positions: [PublishedPosition] = []) async throws -> JSONValue {
        switch await decisions.ask(plugin: plugin, query: query, request: request, after: positions, waitMilliseconds: positions.isEmpty ? 0 : config.decisionWaitMilliseconds) {
        case .success(let value): return value
        case .failure(.pending(let text)): throw CheckoutError(.decisionPending, "\(plugin) has not caught up yet: \(text)")
        case .failure(.unavailable(let text)): throw CheckoutError(.unavailable, "\(plugin) is not available: \(text)")
        case .failure(.refused(let text)): throw CheckoutError(.badUserInput, "\(plugin) refused the question: \(text)")
        }
    }
}
