import ArgumentParser
import Foundation
import Logging
import PluginHost
import Synchronization

/// The headline: generated store traffic already on a Kafka topic (the embedded mock cluster),
/// read by the host and handled by the five POS plugins in worker processes, state in memory or
/// in PostgreSQL; events/s, CPU seconds per 10,000 events, memory of the host and its workers.
struct EndToEndBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "e2e", abstract: "Kafka -> host -> five POS plugins (workers), memory and PostgreSQL.")

    @Option(help: "Directory holding the five POS plugins.")
    var pluginsDir: String

    @Option(help: "Generated events per run (canonical format).")
    var events = 20_000

    @Option(help: "PostgreSQL connection string; with it, a second run keeps state there.")
    var databaseURL: String?

    @Option(help: "The consumers' fetch.wait.max.ms.")
    var fetchWait = 10

    @Option(help: "Which state modes to run (memory, postgres; postgres needs --database-url).")
    var modes = ["memory", "postgres"]

    static let plugins = ["employee_time_tracker", "customer_lookup", "purchase_recommender", "fraud_detection", "age_verification"]

    struct Result {
        var rate: Double
        var cpuPer10k: Double
        var hostRSSMegabytes: Double
        var workerRSSMegabytes: [Double]
    }

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let cluster = try EmbeddedKafkaCluster(topics: ["canonical-memory", "canonical-postgres", "original-memory", "original-postgres"].flatMap { [($0, 3), ($0 + ".dlq", 1)] })
        defer { cluster.close() }
        print("end to end: Kafka (embedded mock cluster, 3 partitions, fetch.wait.max.ms=\(fetchWait)) -> pos-host -> the five POS plugins in worker processes")
        print("reference: the original (Django), measured on this machine: 220-270 events/s on 5,000 events (seed-behaviour.md)")
        var rows: [[String]] = [["the original (Django), measured here", "5,000 original", "-", "220-270", "-", "-", "-"]]
        var summary: [String] = []
        for (format, count) in [(StoreTrafficGenerator.Format.canonical, events), (.original, 5_000)] {
            var generator = StoreTrafficGenerator(terminals: 8, format: format, seed: 7)
            let records = (0..<count).map { _ in generator.next() }
            for mode in modes where mode == "memory" || databaseURL != nil {
                let topic = "\(format.rawValue)-\(mode)"
                let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers, properties: ["linger.ms": "5"])
                for record in records { try producer.produce(topic: topic, key: Array(record.key.utf8), value: Array(record.line.utf8)) }
                try producer.flush(timeoutMilliseconds: 60_000)
                producer.close()
                let result = try measure(cluster: cluster, topic: topic, count: count, database: mode == "postgres" ? databaseURL : nil, logger: logger)
                rows.append([
                    "pos-host, state in \(mode == "memory" ? "memory" : "PostgreSQL")", "\(count) \(format.rawValue)", mode == "memory" ? ">= 40,000" : ">= 20,000",
                    String(format: "%.0f", result.rate), String(format: "%.2f", result.cpuPer10k), String(format: "%.1f", result.hostRSSMegabytes),
                    result.workerRSSMegabytes.map { String(format: "%.0f", $0) }.joined(separator: "/"),
                ])
                if format == .canonical { summary.append("e2e \(mode): \(Int(result.rate.rounded())) events/s") }
            }
        }
        printTable(["RUN", "EVENTS", "TARGET EVENTS/S", "EVENTS/S", "CPU S / 10K EVENTS", "HOST RSS MB (<= 64)", "WORKER RSS MB (<= 32 each)"], rows)
        print("")
        for line in summary { print(line) }
    }

    /// Starts a host on `topic` (already filled), times from the first handled event until every
    /// plugin's lag is 0, and stops it.
    func measure(cluster: EmbeddedKafkaCluster, topic: String, count: Int, database: String?, logger: Logger) throws -> Result {
        let directory = URL(fileURLWithPath: pluginsDir).deletingLastPathComponent().path + "/pos-bench-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in Self.plugins {
            try FileManager.default.copyItem(atPath: pluginsDir + "/" + name + ".so", toPath: directory + "/plugins.d/" + name + ".so")
            // No directory runs here: customer lookups fail at once (connection refused).
            let settings = name == "customer_lookup" ? "settings: {api_endpoint: \"http://127.0.0.1:9/customers\", retry_attempts: 0}\n" : ""
            _ = FileManager.default.createFile(atPath: directory + "/plugins.d/\(name).yaml", contents: Data("enabled: true\n\(settings)".utf8))
        }
        let databaseSection = database.map { "database:\n  url: \"\($0)\"\n" } ?? ""
        let config = """
            plugins_dir: plugins.d
            control_socket: run/host.sock
            log_level: critical
            dispatch: {queue_capacity: 4096, batch_size: 64}
            \(databaseSection)kafka:
              bootstrap_servers: "\(cluster.bootstrapServers)"
              topics: [\(topic)]
              group_prefix: e2e-\(UUID().uuidString.prefix(8))
              emit_topic: \(topic).emitted
              fetch_wait_ms: \(fetchWait)

            """
        _ = FileManager.default.createFile(atPath: directory + "/config.yaml", contents: Data(config.utf8))
        let first = Mutex<UInt64>(0)
        let host = try HostRuntime(configPath: directory + "/config.yaml", baseDirectory: directory, logger: logger) { _, _, settlement in
            guard settlement == .handled else { return }
            first.withLock { if $0 == 0 { $0 = DispatchTime.now().uptimeNanoseconds } }
        }
        let childrenBefore = Self.cpuSeconds(children: true)
        try host.start(watch: false, control: false)
        let cpuBefore = Self.cpuSeconds()
        let deadline = Date(timeIntervalSinceNow: 300)
        var done = false
        while Date() < deadline {
            let plugins = host.status().plugins
            if first.withLock({ $0 }) != 0, plugins.count == Self.plugins.count,
                plugins.allSatisfy({ $0.lag == 0 && $0.metrics.queueDepth == 0 })
            {
                done = true
                break
            }
            usleep(5_000)
        }
        let finished = DispatchTime.now().uptimeNanoseconds
        let cpuHost = Self.cpuSeconds() - cpuBefore
        let status = host.status()
        let workerRSS = status.plugins.compactMap { $0.worker?.residentKilobytes }.map { Double($0) / 1024 }
        let hostRSS = Self.residentMegabytes()
        host.stopIntake()
        host.shutdown(drain: false)
        guard done else { throw ValidationError("\(topic): not every plugin caught up within 300 s") }
        let started = first.withLock { $0 }
        let seconds = Double(finished - started) / 1e9
        // Workers' CPU: children are reaped at shutdown, so RUSAGE_CHILDREN holds them now.
        let cpuWorkers = Self.cpuSeconds(children: true) - childrenBefore
        return Result(rate: Double(count) / seconds, cpuPer10k: (cpuHost + cpuWorkers) / Double(count) * 10_000, hostRSSMegabytes: hostRSS, workerRSSMegabytes: workerRSS)
    }

    static func cpuSeconds(children: Bool = false) -> Double {
        var usage = rusage()
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func residentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}
