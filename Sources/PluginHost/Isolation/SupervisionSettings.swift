/// How worker processes are limited and supervised. Host-wide defaults come from the
/// `supervision` section of config.yaml; a plugin's settings file may override any key in its
/// own `supervision` section.
public struct SupervisionSettings: Sendable, Equatable {
    /// Longest a worker may spend on one event (or query) before it is killed.
    public var deadlineMilliseconds = 5_000
    /// Longest loading and creating may take in a new worker.
    public var loadTimeoutMilliseconds = 10_000
    /// Address-space limit of a worker (RLIMIT_AS); 0 = none.
    public var memoryLimitMegabytes = 2_048
    /// CPU-time limit of a worker process over its life (RLIMIT_CPU); 0 = none.
    public var cpuLimitSeconds = 0
    /// Restart delay after a crash: doubles per consecutive crash up to the maximum.
    public var restartBackoffInitialMilliseconds = 10
    public var restartBackoffMaxMilliseconds = 5_000
    /// Crashes within `crashWindowSeconds` that quarantine the plugin.
    public var quarantineAfterCrashes = 10
    public var crashWindowSeconds = 60

    public init() {}

    /// Every key with its allowed range and where it goes.
    static var keys: [(name: String, range: ClosedRange<Int>, path: WritableKeyPath<SupervisionSettings, Int>)] {
        [
        ("deadline_ms", 1...3_600_000, \.deadlineMilliseconds),
        ("load_timeout_ms", 10...600_000, \.loadTimeoutMilliseconds),
        ("memory_limit_mb", 0...1_048_576, \.memoryLimitMegabytes),
        ("cpu_limit_seconds", 0...31_536_000, \.cpuLimitSeconds),
        ("restart_backoff_initial_ms", 0...600_000, \.restartBackoffInitialMilliseconds),
        ("restart_backoff_max_ms", 0...3_600_000, \.restartBackoffMaxMilliseconds),
        ("quarantine_after_crashes", 1...10_000, \.quarantineAfterCrashes),
        ("crash_window_seconds", 1...86_400, \.crashWindowSeconds),
        ]
    }

    /// Reads the keys present in a `supervision` section, refusing unknown keys.
    static func overrides(from section: inout MappingReader) throws(ConfigError) -> [String: Int] {
        var values: [String: Int] = [:]
        for key in keys {
            if let value = try section.integer(key.name, in: key.range) { values[key.name] = value }
        }
        try section.rejectUnknownKeys(allowed: keys.map(\.name))
        return values
    }

    /// These settings with `overrides` (from ``overrides(from:)``) applied.
    public func applying(_ overrides: [String: Int]) -> SupervisionSettings {
        var result = self
        for key in Self.keys { if let value = overrides[key.name] { result[keyPath: key.path] = value } }
        return result
    }
}
