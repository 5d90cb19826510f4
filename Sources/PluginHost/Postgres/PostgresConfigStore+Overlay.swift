extension PostgresConfigStore {
    /// Applies the database's view to the plugins read from YAML, first seeding rows for the
    /// plugins the database does not know yet.
    public func overlay(_ plugins: [String: PluginConfig], seededBy host: String) throws -> [String: PluginConfig] {
        var rows = try rows()
        for (name, config) in plugins.sorted(by: { $0.key < $1.key }) where rows[name] == nil {
            _ = try write(name: name, by: "\(host) (seeded from \(name).yaml)", seedOnly: true) { _ in
                (config.enabled, config.isolation, config.settings)
            }
        }
        rows = try self.rows()
        var result = plugins
        for (name, row) in rows {
            guard var config = result[name] else { continue }  // no settings file here: not installed on this host
            config.enabled = row.enabled
            config.isolation = row.isolation
            config.settings = row.settings
            result[name] = config
        }
        return result
    }
}
