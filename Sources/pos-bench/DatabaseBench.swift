import ArgumentParser
import Foundation
import Logging
import PluginHost

/// Durable state in PostgreSQL against state in memory, and how fast a configuration change
/// committed in the database reaches a running host.
struct DatabaseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "database", abstract: "Throughput with durable state on vs off; toggle propagation latency.")

    @Option(help: "Directory holding event_counter.so and counter_2..5.so.")
    var pluginsDir = "plugins.d"

    @Option(help: "PostgreSQL connection string (scripts/bench starts a private cluster).")
    var databaseURL: String

    @Option(help: "Events per throughput run.")
    var events = 20_000

    @Option(help: "Toggles measured.")
    var toggles = 100

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let plugins = [("event_counter", "event_counter.so")] + (2...5).map { ("counter_\($0)", "counter_\($0).so") }
        let pool = try PostgresPool(conninfo: databaseURL, size: 8, logger: logger)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        print("durable state: \(events) events through 5 C counters in worker processes (each event: state read + write), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        var rows: [[String]] = []
        var memoryRate = 0.0
        for durable in [false, true] {
            let store: any StateStore = durable ? PostgresStateStore(pool: pool) : InMemoryStateStore()
            let rig = try Rig(
                plugins: plugins.map { (name: $0.0, path: pluginsDir + "/" + $0.1, settings: JSONValue.object([:])) }, isolation: .process,
                batchSize: 64, logger: logger, store: store)
            let elapsed = rig.backlog(events)
            rig.stop()
            let rate = Double(events) / (Double(elapsed) / 1e9)
            if !durable { memoryRate = rate }
            rows.append([durable ? "PostgreSQL (one transaction per batch and plugin)" : "in memory", DispatchBench.rate(rate), durable ? String(format: "%.2fx", memoryRate / rate) : "1.00x"])
        }
        printTable(["STATE", "EVENTS/S (x5 PLUGINS)", "SLOWER"], rows)
        print("")
        try measureToggles(logger: logger)
    }

    /// Commit in the database -> the host has applied it (its plugin changed state), per toggle.
    func measureToggles(logger: Logger) throws {
        // Beside the plugins directory, not under /tmp: the loader refuses sticky ancestors.
        let directory = URL(fileURLWithPath: pluginsDir).deletingLastPathComponent().path + "/pos-bench-toggle-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true)
        chmod(directory + "/plugins.d", 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: pluginsDir + "/event_counter.so", toPath: directory + "/plugins.d/event_counter.so")
        try "enabled: true\n".write(toFile: directory + "/plugins.d/event_counter.yaml", atomically: true, encoding: .utf8)
        try "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndatabase:\n  url: \"\(databaseURL)\"\n".write(
            toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let host = try HostRuntime(
            configPath: directory + "/config.yaml", baseDirectory: directory, logger: logger, emitted: InMemoryEventSink(), deadLetters: InMemoryDeadLetterSink())
        try host.start(watch: false, control: false)
        defer { host.shutdown(drain: false) }
        let store = host.database!.configStore
        var latencies: [Double] = []
        for index in 0..<toggles {
            let enable = index % 2 == 1
            let started = DispatchTime.now().uptimeNanoseconds
            try store.write(name: "event_counter", by: "bench") { row in (enable, row?.isolation ?? .process, row?.settings ?? .object([:])) }
            let committed = DispatchTime.now().uptimeNanoseconds
            let wanted: PluginStatus.State = enable ? .running : .disabled
            while host.registry.status().first(where: { $0.name == "event_counter" })?.state != wanted {
                usleep(100)
                if DispatchTime.now().uptimeNanoseconds - started > 5_000_000_000 { throw ValidationError("toggle \(index) not applied within 5 s") }
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - committed) / 1e6)
        }
        print("toggle propagation, \(toggles) toggles of a worker-isolated plugin (disable stops its worker, enable starts one)")
        printTable(
            ["MEASURE", "P50", "P99", "MAX", "TARGET"],
            [["commit -> applied by the host (NOTIFY, reload, start/stop)"] + IsolationBench.percentiles(latencies) + ["p99 < 100 ms"]])
    }
}
