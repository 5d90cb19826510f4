import ArgumentParser
import Foundation
import Logging
import PluginHost
import Synchronization

/// Process isolation against in-process for the same plugins and load; crash detection and
/// restart times; healthy plugins' throughput while another crash-loops.
struct IsolationBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isolation", abstract: "Worker processes vs in-process: throughput, latency, crash detection, restart.")

    @Option(help: "Directory holding event_counter.so, counter_2..5.so, basket_tally.so and fixture.so.")
    var pluginsDir = "plugins.d"

    @Option(help: "Events per throughput run.")
    var events = 100_000

    @Option(help: "Events per batch handed to a plugin.")
    var batchSize = 64

    @Option(help: "Crash/restart cycles measured.")
    var crashes = 40

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("worker processes vs in-process, \(events) events per run, batch size \(batchSize), \(cores) cores")
        print("throughput: a backlog submitted as fast as possible; latency: submit to settled at a paced 1,000 events/s")
        print("")
        var rows: [[String]] = []
        let sets: [(String, [(String, String)])] = [
            ("C event_counter", [("event_counter", "event_counter.so")]),
            ("Swift basket_tally", [("basket_tally", "basket_tally.so")]),
            ("5 C counters", [("event_counter", "event_counter.so")] + (2...5).map { ("counter_\($0)", "counter_\($0).so") }),
        ]
        for (label, plugins) in sets {
            var inProcessRate = 0.0
            for isolation in [PluginConfig.Isolation.inprocess, .process] {
                let rig = try Rig(plugins: plugins.map { (name: $0.0, path: pluginsDir + "/" + $0.1, settings: JSONValue.object([:])) }, isolation: isolation, batchSize: batchSize, logger: logger)
                let elapsed = rig.backlog(events)
                let latency = rig.paced(perSecond: 1_000, seconds: 2)
                rig.stop()
                let rate = Double(events) / (Double(elapsed) / 1e9)
                if isolation == .inprocess { inProcessRate = rate }
                rows.append([
                    label, isolation.rawValue, DispatchBench.rate(rate), String(format: "%.2f ms", latency.p50), String(format: "%.2f ms", latency.p99),
                    isolation == .inprocess ? "1.00x" : String(format: "%.2fx slower", inProcessRate / rate),
                ])
            }
        }
        printTable(["PLUGINS", "ISOLATION", "EVENTS/S", "P50", "P99", "VS IN-PROCESS"], rows)
        print("(target: process isolation at most 2x slower than in-process)")

        print("")
        try measureCrashes(logger: logger)
        print("")
        try measureCrashLoop(logger: logger)
    }

    /// Crash detection (event sent to worker reaped, for a plugin that segfaults on it) and
    /// restart (spawn, load, create) over many cycles.
    func measureCrashes(logger: Logger) throws {
        var supervision = SupervisionSettings()
        supervision.restartBackoffInitialMilliseconds = 0
        supervision.quarantineAfterCrashes = 10_000
        let context = PluginRuntimeContext(name: "fixture", logger: logger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: SystemClock())
        let instance = try WorkerPluginInstance(
            name: "fixture", path: pluginsDir + "/fixture.so", sha256: nil, overrides: .object(["segfault_seq": .number(7)]), context: context,
            sink: InMemoryEventSink(), supervision: supervision, onQuarantine: { _ in })
        let poison = Event(id: "poison", type: "ITEM_ADDED", key: "k", timeMilliseconds: 0, payload: Array(#"{"seq": 7}"#.utf8))
        let healthy = Event(id: "fine", type: "ITEM_ADDED", key: "k", timeMilliseconds: 0, payload: Array(#"{"seq": 8}"#.utf8))
        var detections: [Double] = []
        var restarts: [Double] = []
        for _ in 0..<crashes {
            _ = instance.handle([poison][...], attempts: [1][...]) { false }
            detections.append(Double(instance.supervisionStatus?.lastDetectionMicroseconds ?? 0) / 1000)
            let reports = instance.handle([healthy][...], attempts: [1][...]) { false }  // restarts the worker first
            guard reports.first?.outcome == .handled else { throw ValidationError("restarted worker did not handle: \(reports)") }
            restarts.append(Double(instance.supervisionStatus?.lastRestartMicroseconds ?? 0) / 1000)
        }
        instance.shutdown()

        var coldStarts: [String: [Double]] = [:]
        for (name, file) in [("event_counter", "event_counter.so"), ("basket_tally", "basket_tally.so")] {
            for _ in 0..<10 {
                let started = DispatchTime.now().uptimeNanoseconds
                let context = PluginRuntimeContext(name: name, logger: logger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: SystemClock())
                let worker = try WorkerPluginInstance(
                    name: name, path: pluginsDir + "/" + file, sha256: nil, overrides: .object([:]), context: context, sink: InMemoryEventSink(),
                    supervision: SupervisionSettings(), onQuarantine: { _ in })
                coldStarts[name, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
                worker.shutdown()
            }
        }
        print("crash detection and restart, C plugin segfaulting on one event, \(crashes) cycles")
        printTable(
            ["MEASURE", "P50", "P99", "MAX", "TARGET"],
            [
                ["crash detected (event sent -> worker reaped)"] + Self.percentiles(detections) + ["< 10 ms"],
                ["worker restarted (spawn, dlopen, create)"] + Self.percentiles(restarts) + ["-"],
                ["cold start, C event_counter"] + Self.percentiles(coldStarts["event_counter"]!) + ["-"],
                ["cold start, Swift basket_tally"] + Self.percentiles(coldStarts["basket_tally"]!) + ["-"],
            ])
    }

    static func percentiles(_ values: [Double]) -> [String] {
        let sorted = values.sorted()
        func at(_ q: Double) -> String { String(format: "%.2f ms", sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) }
        return [at(0.5), at(0.99), String(format: "%.2f ms", sorted.last ?? 0)]
    }

    /// Four healthy worker plugins with and without a fifth that crashes on every event.
    func measureCrashLoop(logger: Logger) throws {
        let healthy = (2...5).map { (name: "counter_\($0)", path: pluginsDir + "/counter_\($0).so", settings: JSONValue.object([:])) }
        let count = events / 5
        var rates: [Double] = []
        var crashCount = 0
        for crashing in [false, true] {
            let bad = (name: "fixture", path: pluginsDir + "/fixture.so", settings: JSONValue.object(["crash_always": .number(crashing ? 1 : 0)]))
            let rig = try Rig(plugins: healthy + [bad], isolation: .process, batchSize: batchSize, logger: logger, maxAttempts: 1, quarantineAfter: 1_000_000)
            let elapsed = rig.backlog(count, waitFor: healthy.map(\.name))
            rates.append(Double(count) / (Double(elapsed) / 1e9))
            if crashing { crashCount = rig.crashes("fixture") }
            rig.stop()
        }
        print("healthy plugins while another crash-loops (4 healthy + 1 worker plugin, \(count) events, all in worker processes)")
        printTable(
            ["FIFTH PLUGIN", "HEALTHY PLUGINS' EVENTS/S", "RELATIVE"],
            [
                ["healthy", DispatchBench.rate(rates[0]), "1.00x"],
                ["segfaults on every event (\(crashCount) crashes during the run)", DispatchBench.rate(rates[1]), String(format: "%.2fx", rates[1] / rates[0])],
            ])
    }
}

/// A set of plugins behind their dispatchers, fed as the registry feeds them.
final class Rig {
    let dispatchers: [PluginDispatcher]
    let instances: [any PluginInstance]
    let metrics: [String: PluginMetrics]
    let arrivals = Arrivals()
    static let capacity = Arrivals.capacity

    init(
        plugins: [(name: String, path: String, settings: JSONValue)], isolation: PluginConfig.Isolation, batchSize: Int, logger: Logger,
        maxAttempts: Int = 1, quarantineAfter: Int = 10, store: (any StateStore)? = nil
    ) throws {
        var supervision = SupervisionSettings()
        supervision.restartBackoffInitialMilliseconds = 0
        supervision.quarantineAfterCrashes = quarantineAfter
        var metrics: [String: PluginMetrics] = [:]
        var instances: [any PluginInstance] = []
        for plugin in plugins {
            let metric = PluginMetrics()
            metrics[plugin.name] = metric
            let context = PluginRuntimeContext(name: plugin.name, logger: logger, metrics: metric, store: store ?? InMemoryStateStore(), clock: SystemClock())
            switch isolation {
            case .inprocess:
                let library = try PluginLoader.load(path: plugin.path)
                instances.append(try InProcessPluginInstance(library: library, settings: library.effectiveSettings(plugin.settings), context: context, sink: InMemoryEventSink()))
            case .process:
                instances.append(
                    try WorkerPluginInstance(
                        name: plugin.name, path: plugin.path, sha256: nil, overrides: plugin.settings, context: context, sink: InMemoryEventSink(),
                        supervision: supervision, onQuarantine: { _ in }))
            }
        }
        self.metrics = metrics
        self.instances = instances
        let first = plugins[0].name
        var made: [PluginDispatcher] = []
        for (index, plugin) in plugins.enumerated() {
            let isFirst = plugin.name == first
            made.append(
                PluginDispatcher(
                    name: plugin.name, instance: instances[index], laneCount: 1, capacity: 4096, batchSize: batchSize,
                    retry: RetryPolicy(maxAttempts: maxAttempts, initialBackoffMilliseconds: 0, maxBackoffMilliseconds: 0),
                    deadLetters: InMemoryDeadLetterSink(), metrics: metrics[plugin.name]!, clock: SystemClock(), logger: logger,
                    onSettled: { [arrivals] event, _ in
                        // Latency is measured on the first plugin of the set.
                        guard isFirst, let index = event.position?.offset else { return }
                        arrivals.record(Int(index))
                    }))
        }
        dispatchers = made
    }

    func event(_ index: Int) -> Event {
        let payload = #"{"basket_id":"basket_\#(index % 40)","terminal_id":"TERM001","product_id":"BURGER","quantity":2,"price":8.99,"seq":\#(index)}"#
        var event = Event(id: "bench-\(index)", type: "ITEM_ADDED", key: "basket_\(index % 40)", timeMilliseconds: 1_795_597_270_000 + Int64(index), payload: Array(payload.utf8))
        event.position = EventPosition(topic: "bench", partition: 0, offset: Int64(index))
        return event
    }

    /// Submits `count` events to every plugin, each fed by its own thread as each plugin's
    /// consumer group feeds it on the bus (a slow plugin does not hold the others back), and
    /// waits until `waitFor` (default: all) have settled them.
    func backlog(_ count: Int, waitFor names: [String]? = nil) -> UInt64 {
        backlog(prepared: (0..<count).map(event), waitFor: names)
    }

    /// The same with given events, each plugin receiving only the types it subscribes to.
    func backlog(prepared all: [Event], waitFor names: [String]? = nil) -> UInt64 {
        let prepared = all
        let watched = dispatchers.filter { names?.contains($0.name) ?? true }
        let done = DispatchGroup()
        let started = DispatchTime.now().uptimeNanoseconds
        for dispatcher in dispatchers {
            let isWatched = watched.contains { $0 === dispatcher }
            if isWatched { done.enter() }
            let wanted = Set(dispatcher.instance.manifest.subscriptions)
            let everything = wanted.contains("*")
            Thread.detachNewThread {
                for event in prepared where everything || wanted.contains(event.type) {
                    if !dispatcher.submit(event) { break }
                }
                if isWatched {
                    dispatcher.drain()
                    done.leave()
                }
            }
        }
        done.wait()
        return DispatchTime.now().uptimeNanoseconds - started
    }

    /// Submits at a fixed rate and returns submit-to-settled latency percentiles (ms) of the first plugin.
    func paced(perSecond rate: Int, seconds: Int) -> (p50: Double, p99: Double) {
        let total = rate * seconds
        let base = 500_000
        var sentAt = [UInt64](repeating: 0, count: total)
        let started = DispatchTime.now().uptimeNanoseconds
        let interval = UInt64(1_000_000_000 / rate)
        for index in 0..<total {
            let due = started + UInt64(index) * interval
            while DispatchTime.now().uptimeNanoseconds < due { usleep(50) }
            sentAt[index] = DispatchTime.now().uptimeNanoseconds
            let next = event(base + index)
            for dispatcher in dispatchers { dispatcher.submit(next) }
        }
        for dispatcher in dispatchers { dispatcher.drain() }
        let settled = arrivals.times.withLock { times in (0..<total).map { times[(base + $0) % Rig.capacity] } }
        let latencies = zip(settled, sentAt).map { Double($0 &- $1) / 1e6 }.sorted()
        return (latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }

    /// Submits `events` at a fixed rate, each to the plugins subscribed to its type, and returns
    /// submit-to-settled percentiles (ms) of the first plugin over the events it takes. Their
    /// positions must be unique and not used by an earlier run.
    func paced(_ events: [Event], perSecond rate: Int) -> (p50: Double, p99: Double) {
        var sentAt: [Int: UInt64] = [:]
        let wanted = dispatchers.map { Set($0.instance.manifest.subscriptions) }
        let started = DispatchTime.now().uptimeNanoseconds
        let interval = UInt64(1_000_000_000 / rate)
        for (index, event) in events.enumerated() {
            let due = started + UInt64(index) * interval
            while DispatchTime.now().uptimeNanoseconds < due { usleep(50) }
            let now = DispatchTime.now().uptimeNanoseconds
            for (dispatcher, types) in zip(dispatchers, wanted) where types.contains("*") || types.contains(event.type) {
                if dispatcher === dispatchers[0] { sentAt[Int(event.position!.offset)] = now }
                dispatcher.submit(event)
            }
        }
        for dispatcher in dispatchers { dispatcher.drain() }
        let settled = arrivals.times.withLock { times in sentAt.map { (times[$0.key % Rig.capacity], $0.value) } }
        let latencies = settled.map { Double($0.0 &- $0.1) / 1e6 }.sorted()
        guard !latencies.isEmpty else { return (0, 0) }
        return (latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }

    func crashes(_ name: String) -> Int {
        guard let index = dispatchers.firstIndex(where: { $0.name == name }) else { return 0 }
        return instances[index].supervisionStatus?.crashes ?? 0
    }

    func stop() {
        for dispatcher in dispatchers { dispatcher.stop() }
        for instance in instances { instance.shutdown() }
    }
}

/// When each event was settled, by its index.
final class Arrivals: Sendable {
    static let capacity = 1 << 20
    let times = Mutex([UInt64](repeating: 0, count: Arrivals.capacity))

    func record(_ index: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        times.withLock { $0[index % Self.capacity] = now }
    }
}
