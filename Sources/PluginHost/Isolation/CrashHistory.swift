/// A worker-isolated plugin's health as its crashes decide it.
public enum PluginHealth: String, Codable, Sendable {
    /// No crash within the crash window.
    case healthy
    /// Crashed within the window, still running (restarted with backoff).
    case degraded
    /// Crashed `quarantine_after_crashes` times within the window: stopped until
    /// `pluginctl restart`. Its events stay on the bus, uncommitted.
    case quarantined
}

/// Crash bookkeeping for one plugin instance: health, restart backoff. Pure logic over
/// monotonic timestamps, so it is tested without processes.
struct CrashHistory: Sendable {
    let settings: SupervisionSettings
    private(set) var crashTimes: [UInt64] = []
    private(set) var totalCrashes = 0
    /// Crashes since the worker last completed work: drives the backoff.
    private(set) var consecutive = 0
    private(set) var quarantined = false
    private(set) var lastReason: String?

    init(settings: SupervisionSettings) { self.settings = settings }

    private var window: UInt64 { UInt64(settings.crashWindowSeconds) * 1_000_000_000 }

    /// Records a crash at `now` (monotonic ns) and returns the health it leads to.
    mutating func recordCrash(_ reason: String, at now: UInt64) -> PluginHealth {
        totalCrashes += 1
        consecutive += 1
        lastReason = reason
        crashTimes.append(now)
        let window = self.window
        crashTimes.removeAll { now - $0 > window }
        if crashTimes.count >= settings.quarantineAfterCrashes { quarantined = true }
        return health(at: now)
    }

    /// The worker did useful work: the next crash starts the backoff from the beginning.
    mutating func recordProgress() { consecutive = 0 }

    func health(at now: UInt64) -> PluginHealth {
        if quarantined { return .quarantined }
        return crashTimes.contains { now - $0 <= window } ? .degraded : .healthy
    }

    /// How long to wait before the next restart.
    var backoffMilliseconds: Int {
        guard consecutive > 0 else { return 0 }
        let initial = settings.restartBackoffInitialMilliseconds
        let doubled = initial << min(consecutive - 1, 20)
        return min(settings.restartBackoffMaxMilliseconds, doubled)
    }
}
