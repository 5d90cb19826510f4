import Synchronization

/// Counters and a latency histogram for one plugin, updated lock-free (counters) or under a
/// short lock (histogram) from dispatcher lanes and read by status and metrics exporters.
public final class PluginMetrics: Sendable {
    /// Events routed to the plugin.
    let received = Atomic<Int>(0)
    /// Events the plugin handled (returned OK).
    let handled = Atomic<Int>(0)
    /// Handler calls that asked for a retry (each attempt counts).
    let retried = Atomic<Int>(0)
    /// Handler calls that did not return OK (retry or reject).
    let failed = Atomic<Int>(0)
    /// Events sent to the dead-letter sink (rejected, or retries exhausted).
    let deadLettered = Atomic<Int>(0)
    /// Events queued but not handled because the plugin was disabled or the host stopped.
    let abandoned = Atomic<Int>(0)
    /// Events currently queued (gauge).
    let queueDepth = Atomic<Int>(0)
    /// Re-deliveries of events the plugin had already applied, skipped.
    let duplicates = Atomic<Int>(0)
    let latency = LatencyHistogram()
    private let custom = Mutex<[String: Int64]>([:])

    public init() {}

    func addCustom(_ name: String, _ delta: Int64) {
        custom.withLock { $0[name, default: 0] += delta }
    }

    public func snapshot() -> PluginMetricsSnapshot {
        PluginMetricsSnapshot(
            received: received.load(ordering: .relaxed), handled: handled.load(ordering: .relaxed),
            retried: retried.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed),
            deadLettered: deadLettered.load(ordering: .relaxed), abandoned: abandoned.load(ordering: .relaxed),
            queueDepth: queueDepth.load(ordering: .relaxed), latency: latency.summary(),
            counters: custom.withLock { $0 }, duplicates: duplicates.load(ordering: .relaxed))
    }
}

/// A point-in-time copy of ``PluginMetrics`` (what `pluginctl status` shows).
public struct PluginMetricsSnapshot: Codable, Sendable, Equatable {
    public var received: Int
    public var handled: Int
    public var retried: Int
    public var failed: Int
    public var deadLettered: Int
    public var abandoned: Int
    public var queueDepth: Int
    public var latency: LatencySummary
    /// Counters the plugin keeps through `metric_add`.
    public var counters: [String: Int64]
    /// Re-delivered events skipped because the plugin had applied them (absent from old hosts).
    public var duplicates: Int?

    enum CodingKeys: String, CodingKey {
        case received, handled, retried, failed, abandoned, latency, counters, duplicates
        case deadLettered = "dead_lettered"
        case queueDepth = "queue_depth"
    }
}

/// Handler latency summary in microseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: Int
    public var p50Microseconds: Double
    public var p99Microseconds: Double
    public var maxMicroseconds: Double

    enum CodingKeys: String, CodingKey {
        case count
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case maxMicroseconds = "max_us"
    }
}

/// A histogram with fixed exponential buckets (the shape Prometheus expects); percentiles are
/// interpolated within a bucket, so they are estimates with the bucket's resolution.
final class LatencyHistogram: Sendable {
    /// Upper bounds in microseconds; the last bucket is unbounded.
    static let bounds: [Double] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000,
    ]

    struct State {
        var counts = [Int](repeating: 0, count: LatencyHistogram.bounds.count + 1)
        var total = 0
        var sum: Double = 0
        var max: Double = 0
    }

    private let state = Mutex(State())

    func record(nanoseconds: UInt64) {
        let microseconds = Double(nanoseconds) / 1_000
        var index = 0
        while index < Self.bounds.count && microseconds > Self.bounds[index] { index += 1 }
        state.withLock {
            $0.counts[index] += 1
            $0.total += 1
            $0.sum += microseconds
            if microseconds > $0.max { $0.max = microseconds }
        }
    }

    func summary() -> LatencySummary {
        let copy = state.withLock { $0 }
        return LatencySummary(
            count: copy.total, p50Microseconds: Self.quantile(0.5, copy), p99Microseconds: Self.quantile(0.99, copy),
            maxMicroseconds: copy.max)
    }

    static func quantile(_ q: Double, _ state: State) -> Double {
        guard state.total > 0 else { return 0 }
        let rank = q * Double(state.total)
        var seen = 0.0
        for (index, count) in state.counts.enumerated() where count > 0 {
            if seen + Double(count) >= rank {
                let lower = index == 0 ? 0 : bounds[index - 1]
                let upper = index < bounds.count ? bounds[index] : state.max
                let fraction = (rank - seen) / Double(count)
                return min(lower + (upper - lower) * fraction, state.max)
            }
            seen += Double(count)
        }
        return state.max
    }
}
