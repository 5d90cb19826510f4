import ArgumentParser
import Foundation
import Logging
import PluginHost

@main
struct PosBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pos-bench", abstract: "Benchmarks of the plugin host (scripts/bench runs them all).",
        subcommands: [DispatchBench.self, IsolationBench.self, DatabaseBench.self, StoreBench.self, KafkaBench.self, EndToEndBench.self, ApiBench.self])
}

/// Prints rows as an aligned table.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max()! }
    for row in all {
        print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

/// Measures in-process dispatch against the direct function-pointer call, for a C and a Swift
/// plugin, to one and to five plugin instances.
struct DispatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dispatch", abstract: "In-process dispatch throughput vs a direct call.")

    @Option(help: "Directory holding event_counter.so (C) and basket_tally.so (Swift).")
    var pluginsDir = "plugins.d"

    @Option(help: "Events per measurement.")
    var events = 200_000

    @Option(help: "Repetitions of each measurement; the best is reported.")
    var repeats = 3

    @Option(help: "Events per batch handed to a plugin.")
    var batchSize = 32

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        print("in-process dispatch, \(events) events per run, best of \(repeats), batch size \(batchSize), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("")
        var rows: [[String]] = []
        for (label, file) in [("C event_counter", "event_counter.so"), ("Swift basket_tally", "basket_tally.so")] {
            let library = try PluginLoader.load(path: pluginsDir + "/" + file)
            let settings = try library.effectiveSettings(.object([:]))
            let event = Self.sampleEvent()

            // Direct call: the floor.
            let direct = try (0..<repeats).map { _ in
                let instance = try makeInstance(library, settings, name: library.manifest.name, logger: logger)
                defer { instance.shutdown() }
                return instance.measureDirectCalls(event, count: events)
            }.min()!
            let directRate = Double(events) / (Double(direct) / 1e9)
            rows.append([label, "direct function-pointer call", Self.rate(directRate), String(format: "%.0f ns", Double(direct) / Double(events)), "-", "-", "1.00x"])

            // The same calls through the instance (per-event transaction and commit), no queue.
            let instanceOnly = try (0..<repeats).map { _ in
                let instance = try makeInstance(library, settings, name: library.manifest.name, logger: logger)
                defer { instance.shutdown() }
                let batch = Array(repeating: event, count: batchSize)
                let attempts = Array(repeating: 1, count: batchSize)
                let started = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<(events / batchSize) { _ = instance.handle(batch[...], attempts: attempts[...]) { false } }
                return DispatchTime.now().uptimeNanoseconds - started
            }.min()!
            let instanceRate = Double(events / batchSize * batchSize) / (Double(instanceOnly) / 1e9)
            rows.append([
                label, "instance call + state commit", Self.rate(instanceRate), String(format: "%.0f ns", 1e9 / instanceRate), "-", "-",
                String(format: "%.2fx", directRate / instanceRate),
            ])

            for fanOut in [1, 5] {
                var best: (nanoseconds: UInt64, p50: Double, p99: Double) = (.max, 0, 0)
                for _ in 0..<repeats {
                    let result = try measureDispatch(library, settings, fanOut: fanOut, event: event, logger: logger)
                    if result.nanoseconds < best.nanoseconds { best = result }
                }
                // Throughput counts events into the host; with five plugins each is handled five times.
                let rate = Double(events) / (Double(best.nanoseconds) / 1e9)
                rows.append([
                    label, "dispatcher -> \(fanOut) plugin\(fanOut > 1 ? "s" : "")", Self.rate(rate),
                    String(format: "%.0f ns", Double(best.nanoseconds) / Double(events)), String(format: "%.1f us", best.p50),
                    String(format: "%.1f us", best.p99), String(format: "%.2fx", directRate / rate),
                ])
            }
        }
        printTable(["PLUGIN", "PATH", "EVENTS/S", "PER EVENT", "HANDLER P50", "HANDLER P99", "VS DIRECT"], rows)
    }

    static func rate(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2f M", value / 1e6) : String(format: "%.0f k", value / 1e3)
    }

    static func sampleEvent() -> Event {
        let payload = #"{"basket_id":"basket_1a2b3c4d","terminal_id":"TERM001","product_id":"BURGER","quantity":2,"price":8.99}"#
        return Event(id: "6f1d2c3e-0000-4000-8000-000000000001", type: "ITEM_ADDED", key: "basket_1a2b3c4d", timeMilliseconds: 1_795_597_270_000, payload: Array(payload.utf8))
    }

    func makeInstance(_ library: PluginLibrary, _ settings: JSONValue, name: String, logger: Logger) throws -> InProcessPluginInstance {
        let context = PluginRuntimeContext(name: name, logger: logger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: SystemClock())
        return try InProcessPluginInstance(library: library, settings: settings, context: context, sink: InMemoryEventSink())
    }

    /// Routes `events` events (40 distinct keys) to `fanOut` instances of the plugin through
    /// their dispatchers, as the registry does, and waits until all are handled.
    func measureDispatch(_ library: PluginLibrary, _ settings: JSONValue, fanOut: Int, event: Event, logger: Logger) throws -> (nanoseconds: UInt64, p50: Double, p99: Double) {
        let metrics = (0..<fanOut).map { _ in PluginMetrics() }
        let dispatchers = try (0..<fanOut).map { index in
            let context = PluginRuntimeContext(name: "\(library.manifest.name)_\(index)", logger: logger, metrics: metrics[index], store: InMemoryStateStore(), clock: SystemClock())
            let instance = try InProcessPluginInstance(library: library, settings: settings, context: context, sink: InMemoryEventSink())
            return PluginDispatcher(
                name: context.name, instance: instance, laneCount: 1, capacity: 4096, batchSize: batchSize,
                retry: RetryPolicy(maxAttempts: 1, initialBackoffMilliseconds: 0, maxBackoffMilliseconds: 0),
                deadLetters: InMemoryDeadLetterSink(), metrics: metrics[index], clock: SystemClock(), logger: logger)
        }
        let keyed = (0..<40).map { index -> Event in
            var copy = event
            copy.key = "basket_\(index)"
            return copy
        }
        let started = DispatchTime.now().uptimeNanoseconds
        for index in 0..<events {
            let next = keyed[index % keyed.count]
            for dispatcher in dispatchers { dispatcher.submit(next) }
        }
        for dispatcher in dispatchers { dispatcher.drain() }
        let elapsed = DispatchTime.now().uptimeNanoseconds - started
        for dispatcher in dispatchers { dispatcher.stop() }
        let latency = metrics[0].snapshot().latency
        for (index, metric) in metrics.enumerated() where metric.snapshot().handled != events {
            throw ValidationError("instance \(index) handled \(metric.snapshot().handled) of \(events) events")
        }
        return (elapsed, latency.p50Microseconds, latency.p99Microseconds)
    }
}
