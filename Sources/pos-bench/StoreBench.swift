import ArgumentParser
import Foundation
import Logging
import PluginHost

/// A realistic store load through the five POS plugins in worker processes: generated traffic
/// (logins, baskets, items, removals, customers, age checks, payments) decoded as the host
/// decodes the bus, each plugin fed the types it subscribes to.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Mixed store traffic through the five POS plugins.")

    @Option(help: "Directory holding the five POS plugins.")
    var pluginsDir = "plugins.d"

    @Option(help: "Generated events per run.")
    var events = 20_000

    @Option(help: "PostgreSQL connection string for durable state (omit: state in memory).")
    var databaseURL: String?

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let decoder = EventDecoder(maxEventBytes: 1 << 20, clock: SystemClock())
        var generator = StoreTrafficGenerator(terminals: 8, format: .canonical, seed: 11)
        var prepared: [Event] = []
        for index in 0..<events {
            guard var event = try? decoder.decode(Array(generator.next().line.utf8)) else { continue }
            event.position = EventPosition(topic: "store", partition: 0, offset: Int64(index))
            prepared.append(event)
        }
        let counts = Dictionary(grouping: prepared, by: \.type).mapValues(\.count)
        let plugins: [(name: String, path: String, settings: JSONValue)] = [
            ("fraud_detection", pluginsDir + "/fraud_detection.so", .object([:])),
            ("employee_time_tracker", pluginsDir + "/employee_time_tracker.so", .object([:])),
            // No directory runs here: lookups fail at once (connection refused), as with the directory down.
            ("customer_lookup", pluginsDir + "/customer_lookup.so", .object(["api_endpoint": .string("http://127.0.0.1:9/customers"), "retry_attempts": .number(0)])),
            ("purchase_recommender", pluginsDir + "/purchase_recommender.so", .object([:])),
            ("age_verification", pluginsDir + "/age_verification.so", .object([:])),
        ]
        var store: (any StateStore)?
        if let databaseURL {
            let pool = try PostgresPool(conninfo: databaseURL, size: 8, logger: logger)
            _ = try pool.with { try PostgresSchema.migrate($0) }
            store = PostgresStateStore(pool: pool)
        }
        let rig = try Rig(plugins: plugins, isolation: .process, batchSize: 64, logger: logger, store: store)
        let elapsed = rig.backlog(prepared: prepared)
        let handled = plugins.map { rig.metrics[$0.name]!.snapshot() }
        // Latency at a steady 1,000 events/s: the same kind of traffic, later in the day.
        var later = StoreTrafficGenerator(terminals: 8, format: .canonical, seed: 12, startMilliseconds: 1_795_640_400_000)
        var steady: [Event] = []
        for index in 0..<3_000 {
            guard var event = try? decoder.decode(Array(later.next().line.utf8)) else { continue }
            event.position = EventPosition(topic: "store", partition: 0, offset: Int64(600_000 + index))
            steady.append(event)
        }
        let latency = rig.paced(steady, perSecond: 1_000)
        rig.stop()
        let rate = Double(prepared.count) / (Double(elapsed) / 1e9)
        print("store traffic: \(prepared.count) generated events (\(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
        print("five POS plugins in worker processes, state \(databaseURL == nil ? "in memory" : "in PostgreSQL"), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        printTable(
            ["PLUGIN", "EVENTS HANDLED", "HANDLER P50", "HANDLER P99", "DEAD-LETTERED"],
            zip(plugins, handled).map { plugin, metrics in
                [plugin.name, "\(metrics.handled)", String(format: "%.0f us", metrics.latency.p50Microseconds), String(format: "%.0f us", metrics.latency.p99Microseconds), "\(metrics.deadLettered)"]
            })
        print(String(format: "throughput: %.0f store events/s through all five (target: 20,000 with isolation and durable state)", rate))
        print(String(format: "latency at 1,000 events/s, submitted -> settled by fraud_detection: p50 %.2f ms, p99 %.2f ms (target: p99 10 ms)", latency.p50, latency.p99))
    }
}
