/// Where a plugin runs: a setting of its configuration row, shared by pos-host and pos-api.
public enum PluginIsolation: String, Sendable, Equatable, CaseIterable {
    /// In the host process, called directly: fastest, for trusted plugins only (a crash of
    /// the plugin is a crash of the host).
    case inprocess
    /// In its own supervised worker process (the default).
    case process
}
