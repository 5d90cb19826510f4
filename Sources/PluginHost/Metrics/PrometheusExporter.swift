import Foundation
import Prometheus
import Synchronization

/// Turns host status into Prometheus metrics (swift-prometheus's registry and text format),
/// refreshed at each scrape: counters advance by what happened since the previous scrape,
/// gauges are set.
public final class PrometheusExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    private struct Exported {
        var counters: [String: (Counter, Int)] = [:]
        var gauges: [String: Gauge] = [:]
    }
    private let exported = Mutex(Exported())

    public init() {}

    static let help: [String: String] = [
        "pos_ingress_events_total": "Records read from the event source",
        "pos_ingress_malformed_total": "Records dead-lettered because they are not valid events",
        "pos_config_generation": "Configuration reloads applied",
        "pos_plugin_events_received_total": "Events routed to the plugin",
        "pos_plugin_events_handled_total": "Events the plugin handled",
        "pos_plugin_events_retried_total": "Handler calls that asked for a retry",
        "pos_plugin_handler_failures_total": "Handler calls that did not return ok",
        "pos_plugin_events_dead_lettered_total": "Events dead-lettered for the plugin",
        "pos_plugin_events_duplicate_total": "Re-delivered events skipped because the plugin had applied them",
        "pos_plugin_events_abandoned_total": "Queued events not handled because the plugin stopped",
        "pos_plugin_queue_depth": "Events queued or in flight for the plugin",
        "pos_plugin_running": "1 while the plugin runs",
        "pos_plugin_handled_per_second": "Events handled per second over the last 10 s",
        "pos_plugin_handler_latency_seconds": "Handler latency quantiles (from fixed buckets)",
        "pos_plugin_consumer_lag": "Events on the bus not yet committed for the plugin",
        "pos_plugin_counter_total": "Counters the plugin keeps itself (metric_add)",
        "pos_plugin_worker_crashes_total": "Crashes (and deadline kills) of the plugin's worker process",
        "pos_plugin_worker_restarts_total": "Restarts of the plugin's worker process",
        "pos_plugin_health": "Worker health: 0 healthy, 1 degraded, 2 quarantined",
        "pos_plugin_worker_resident_bytes": "Resident memory of the plugin's worker process",
    ]

    /// The metrics text for `status` and `rates` (events handled per second, per plugin).
    public func render(_ status: HostStatus, rates: [String: Double]) -> String {
        exported.withLock { state in
            func count(_ name: String, _ labels: [(String, String)], _ value: Int) {
                let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
                if state.counters[key] == nil {
                    let descriptor = MetricNameDescriptor(metricName: String(name.dropLast(6)), unitName: "total", helpText: Self.help[name] ?? name)
                    state.counters[key] = (registry.makeCounter(descriptor: descriptor, labels: labels), 0)
                }
                let (counter, previous) = state.counters[key]!
                if value > previous { counter.increment(by: Int64(value - previous)) }
                state.counters[key] = (counter, max(value, previous))
            }
            func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
                let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
                if state.gauges[key] == nil {
                    let parts = name.split(separator: "_")
                    let descriptor = MetricNameDescriptor(
                        metricName: parts.dropLast().joined(separator: "_"), unitName: String(parts.last!), helpText: Self.help[name] ?? name)
                    state.gauges[key] = registry.makeGauge(descriptor: descriptor, labels: labels)
                }
                state.gauges[key]!.set(value)
            }
            count("pos_ingress_events_total", [], status.ingress.received)
            count("pos_ingress_malformed_total", [], status.ingress.malformed)
            gauge("pos_config_generation", [], Double(status.configGeneration))
            for plugin in status.plugins {
                let labels = [("plugin", plugin.name)]
                let m = plugin.metrics
                count("pos_plugin_events_received_total", labels, m.received)
                count("pos_plugin_events_handled_total", labels, m.handled)
                count("pos_plugin_events_retried_total", labels, m.retried)
                count("pos_plugin_handler_failures_total", labels, m.failed)
                count("pos_plugin_events_dead_lettered_total", labels, m.deadLettered)
                count("pos_plugin_events_duplicate_total", labels, m.duplicates ?? 0)
                count("pos_plugin_events_abandoned_total", labels, m.abandoned)
                gauge("pos_plugin_queue_depth", labels, Double(m.queueDepth))
                gauge("pos_plugin_running", labels, plugin.state == .running ? 1 : 0)
                gauge("pos_plugin_handled_per_second", labels, rates[plugin.name] ?? 0)
                gauge("pos_plugin_handler_latency_seconds", labels + [("quantile", "0.5")], m.latency.p50Microseconds / 1e6)
                gauge("pos_plugin_handler_latency_seconds", labels + [("quantile", "0.99")], m.latency.p99Microseconds / 1e6)
                if let lag = plugin.lag { gauge("pos_plugin_consumer_lag", labels, Double(lag)) }
                if let worker = plugin.worker {
                    count("pos_plugin_worker_crashes_total", labels, worker.crashes)
                    count("pos_plugin_worker_restarts_total", labels, worker.restarts)
                    gauge("pos_plugin_health", labels, worker.health == .healthy ? 0 : worker.health == .degraded ? 1 : 2)
                    if let rss = worker.residentKilobytes { gauge("pos_plugin_worker_resident_bytes", labels, Double(rss * 1024)) }
                }
                for (name, value) in m.counters {
                    count("pos_plugin_counter_total", labels + [("name", name)], Int(value))
                }
            }
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
    }
}

/// Events handled per second per plugin over the last ~10 s, sampled once a second.
final class RateMeter: Sendable {
    private let samples = Mutex<[(time: UInt64, handled: [String: Int])]>([])

    func record(_ status: [PluginStatus]) {
        let now = DispatchTime.now().uptimeNanoseconds
        let handled = Dictionary(status.map { ($0.name, $0.metrics.handled) }, uniquingKeysWith: { $1 })
        samples.withLock { list in
            list.append((now, handled))
            if list.count > 11 { list.removeFirst(list.count - 11) }
        }
    }

    func rates() -> [String: Double] {
        samples.withLock { list in
            guard let first = list.first, let last = list.last, last.time > first.time else { return [:] }
            let seconds = Double(last.time - first.time) / 1e9
            var rates: [String: Double] = [:]
            for (name, handled) in last.handled {
                let before = first.handled[name] ?? 0
                rates[name] = Double(handled - before) / seconds
            }
            return rates
        }
    }
}
