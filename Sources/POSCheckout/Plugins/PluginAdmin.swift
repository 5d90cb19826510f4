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
    /// The plugin's JSON Schema for its settings and its defaults (JSON text), from a host
    /// that loaded it; nil when no host answers or the plugin declares none.
    let settingsSchema: String?
    let defaultSettings: String?
    /// A hand edit of the settings file the host refused (the last good settings stay).
    let configError: String?
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
                lag: live?["lag"]?.exactInteger.map { String($0) }, settingsSchema: live?["settings_schema"]?.jsonText,
                defaultSettings: live?["default_settings"]?.jsonText, configError: live?["config_error"]?.stringValue)
        }
    }

    /// Enables or disables a plugin and replaces its settings (ADMIN), in the configuration
    /// store every host follows. New settings are checked first, merged over the plugin's
    /// defaults, against the schema the plugin declares (as `pluginctl config set` does); a
    /// refusal lists each violation (`violations`: JSON `[{path, message}]`) and changes nothing.
    public func update(name: String, enabled: Bool?, settings: String?, by principal: Principal) async throws -> PluginView {
        try principal.require(.admin, to: "changing plugins")
        guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw CheckoutError.badInput("no plugin named \(name)")
        }
        let store = PostgresConfigStore(pool: database.pool)
        let exists = try await database.run { _ in try store.rows()[name] != nil }
        guard exists else { throw CheckoutError.notFound("no plugin named \(name) in the configuration store") }
        var parsed: JSONValue?
        if let settings { parsed = try await check(settings: settings, of: name) }
        let checked = parsed
        let author = "pos-api:\(principal.username)"
        let running = await decisions.hostStatus()?["plugins"]?.arrayValue?.first { $0["name"]?.stringValue == name }
        let previous = try await database.run { _ -> PostgresConfigStore.Row? in
            guard enabled != nil || checked != nil else { return nil }
            var previous: PostgresConfigStore.Row?
            _ = try store.write(name: name, by: author) { row in
                previous = row
                return (enabled ?? row?.enabled ?? false, row?.isolation ?? .process, checked ?? row?.settings ?? .object([:]))
            }
            return previous
        }
        // A plugin may refuse settings its schema allows (rules across fields): wait for the
        // host to apply them, and if the plugin refuses, put the previous ones back, so the
        // store never holds settings that the plugin will not start with.
        if let checked, let running, running["state"]?.stringValue == "running" {
            let expected = (running["default_settings"] ?? .object([:])).merging(checked)
            if case .refused(let reason) = await outcome(of: name, expected: expected, errorBefore: running["last_error"]?.stringValue) {
                let restored = previous?.settings ?? .object([:])
                try await database.run { _ in
                    _ = try store.write(name: name, by: author + " (restored: the plugin refused)") { row in
                        (row?.enabled ?? false, row?.isolation ?? .process, restored)
                    }
                }
                throw CheckoutError(.badUserInput, "\(name) refused these settings: \(reason); the previous settings stay in force", details: ["plugin": name])
            }
        }
        guard let view = try await list().first(where: { $0.name == name }) else { throw CheckoutError.notFound("no plugin named \(name)") }
        return view
    }

    enum Outcome { case applied, refused(String), unknown }

    /// What the hosts did with new settings within 3 s: in force, refused (its last error
    /// changed while the old settings stayed), or not known yet (no host answered in time).
    func outcome(of name: String, expected: JSONValue, errorBefore: String?) async -> Outcome {
        for _ in 0..<30 {
            if let plugin = await decisions.hostStatus()?["plugins"]?.arrayValue?.first(where: { $0["name"]?.stringValue == name }) {
                if plugin["settings"] == expected { return .applied }
                if let error = plugin["last_error"]?.stringValue, error != errorBefore { return .refused(error) }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return .unknown
    }

    /// Parses settings text and checks it against the plugin's schema, read from a host.
    func check(settings text: String, of name: String) async throws -> JSONValue {
        guard text.utf8.count <= 64 * 1024 else { throw CheckoutError.badInput("settings over 64 KiB") }
        let value: JSONValue
        do { value = try JSONValue.parse(Array(text.utf8)) } catch { throw CheckoutError.badInput("the settings are not JSON: \(error)") }
        guard value.objectValue != nil else { throw CheckoutError.badInput("the settings must be a JSON object") }
        let plugin = await decisions.hostStatus()?["plugins"]?.arrayValue?.first { $0["name"]?.stringValue == name }
        guard let plugin, plugin["version"]?.stringValue != nil else {
            throw CheckoutError(.unavailable, "no pos-host has \(name) loaded, so its settings cannot be checked against its schema; try again when it runs, or use pluginctl config set")
        }
        if let schemaValue = plugin["settings_schema"], schemaValue != .null {
            let schema: JSONSchema
            do { schema = try JSONSchema(schemaValue) } catch { throw CheckoutError(.unavailable, "\(name) declares a schema that cannot be used: \(error)") }
            let violations = schema.violations(of: (plugin["default_settings"] ?? .object([:])).merging(value))
            if !violations.isEmpty {
                let list = JSONValue.array(violations.map { .object(["path": .string($0.path), "message": .string($0.message)]) })
                throw CheckoutError(
                    .badUserInput, "\(name) rejects these settings: \(violations.map(\.description).joined(separator: "; ")); nothing was changed",
                    details: ["violations": list.jsonText])
            }
        }
        return value
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
