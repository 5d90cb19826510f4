import ArgumentParser
import Foundation
import Logging
import PluginHost
import Synchronization

/// End to end over Kafka (the embedded mock cluster on loopback TCP): the raw librdkafka consume
/// rate of the topic, the host's throughput into 1 and 5 plugins, and produce-to-handled
/// latency at a fixed rate, all in one run.
struct KafkaBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kafka", abstract: "End-to-end throughput and latency over Kafka.")

    @Option(help: "Directory with event_counter.so and counter_2..counter_5.so (scripts/bench builds them).")
    var pluginsDir: String

    @Option(help: "Events per throughput measurement.")
    var events = 20_000

    @Option(help: "Rate of the latency measurement, events per second.")
    var rate = 1_000

    @Option(help: "Seconds of the latency measurement.")
    var seconds = 5

    @Option(help: "The consumers' fetch.wait.max.ms (the mock cluster never answers a waiting fetch early).")
    var fetchWait = 10

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        print("end to end over Kafka (embedded mock cluster, loopback TCP, 3 partitions), fetch.wait.max.ms=\(fetchWait), \(events) events")
        print("")
        var traffic = StoreTrafficGenerator(terminals: 8, seed: 42)
        let records = (0..<events).map { _ in traffic.next() }

        // 1. Raw consume rate of the same topic: a bare librdkafka consumer, no decoding.
        let cluster = try EmbeddedKafkaCluster(
            topics: [("pos-events", 3), ("pos-events.dlq", 1), ("bench-live", 3)] + ["bench-1", "bench-5", "bench-backlog-1", "bench-backlog-5", "bench-latency"].flatMap { [($0, 3), ($0 + ".dlq", 1)] })
        defer { cluster.close() }
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers, properties: ["linger.ms": "1"])
        defer { producer.close() }
        for record in records { try producer.produce(topic: "pos-events", key: Array(record.key.utf8), value: Array(record.line.utf8)) }
        try producer.flush(timeoutMilliseconds: 60_000)
        guard producer.failedCount == 0 else { throw ValidationError("\(producer.failedCount) of \(events) messages were not delivered") }
        let raw = try consumeRate(cluster.bootstrapServers, count: events)

        // 1b. The same consumer caught up at the end of an empty topic, reading while the messages
        // are produced: the situation the host is measured in below.
        let live = try liveConsumeRate(cluster: cluster, producer: producer, records: records)

        // 2. Through the host into 1 and into 5 plugins (fresh topics, same messages).
        var rows: [[String]] = [
            ["raw librdkafka consumer, backlog (reference)", "-", rateText(raw), "1.00x"],
            ["raw librdkafka consumer, live while producing", "-", rateText(live), String(format: "%.2fx", live / raw)],
        ]
        for plugins in [1, 5] {
            // Backlog: the topic is filled first; timed from the first to the last handled event.
            let backlogTopic = "bench-backlog-\(plugins)"
            for record in records { try producer.produce(topic: backlogTopic, key: Array(record.key.utf8), value: Array(record.line.utf8)) }
            try producer.flush(timeoutMilliseconds: 60_000)
            let window = Mutex<(first: UInt64, last: UInt64, count: Int)>((0, 0, 0))
            let (backlogHost, backlogDirectory) = try startHost(cluster: cluster, topic: backlogTopic, plugins: plugins, logger: logger) { _, _, settlement in
                guard settlement == .handled else { return }
                let now = DispatchTime.now().uptimeNanoseconds
                window.withLock { if $0.count == 0 { $0.first = now }; $0.last = now; $0.count += 1 }
            }
            let backlogDeadline = Date(timeIntervalSinceNow: 120)
            while Date() < backlogDeadline, window.withLock({ $0.count }) < events * plugins { usleep(2_000) }
            backlogHost.stopIntake()
            backlogHost.shutdown(drain: false)
            try? FileManager.default.removeItem(atPath: backlogDirectory)
            let measured = window.withLock { $0 }
            guard measured.count == events * plugins else { throw ValidationError("backlog: \(measured.count) of \(events * plugins) handler calls") }
            let backlogRate = Double(events) / (Double(measured.last - measured.first) / 1e9)
            rows.append([
                "pos-host -> \(plugins) plugin\(plugins > 1 ? "s" : ""), backlog", "\(plugins * events) handler calls", rateText(backlogRate),
                String(format: "%.2fx", backlogRate / raw),
            ])

            let topic = "bench-\(plugins)"
            let (host, directory) = try startHost(cluster: cluster, topic: topic, plugins: plugins, logger: logger, onSettled: nil)
            let started = DispatchTime.now().uptimeNanoseconds
            for record in records { try producer.produce(topic: topic, key: Array(record.key.utf8), value: Array(record.line.utf8)) }
            try producer.flush(timeoutMilliseconds: 60_000)
            let deadline = Date(timeIntervalSinceNow: 120)
            while Date() < deadline, host.status().plugins.contains(where: { $0.metrics.handled < events }) { usleep(2_000) }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let handled = host.status().plugins.map(\.metrics.handled).min() ?? 0
            host.stopIntake()
            host.shutdown(drain: false)
            try? FileManager.default.removeItem(atPath: directory)
            guard handled == events else { throw ValidationError("only \(handled) of \(events) events were handled within 120 s") }
            let throughput = Double(events) / elapsed
            rows.append(["pos-host -> \(plugins) plugin\(plugins > 1 ? "s" : ""), live while producing", "\(plugins * events) handler calls", rateText(throughput), String(format: "%.2fx", throughput / raw)])
        }
        printTable(["PATH (plugins: the C event_counter under 1-5 names)", "WORK", "EVENTS/S", "VS RAW BACKLOG"], rows)

        // 3. Produce-to-handled latency at a fixed rate, one plugin.
        let sent = Mutex<[String: UInt64]>([:])
        let latencies = Mutex<[Double]>([])
        let (host, directory) = try startHost(cluster: cluster, topic: "bench-latency", plugins: 1, logger: logger) { _, event, settlement in
            guard settlement == .handled, let at = sent.withLock({ $0[event.id] }) else { return }
            let microseconds = Double(DispatchTime.now().uptimeNanoseconds - at) / 1_000
            latencies.withLock { $0.append(microseconds) }
        }
        let total = rate * seconds
        var latencyTraffic = StoreTrafficGenerator(terminals: 8, seed: 7)
        let begin = DispatchTime.now().uptimeNanoseconds
        for index in 0..<total {
            let due = begin + UInt64(Double(index) / Double(rate) * 1e9)
            let now = DispatchTime.now().uptimeNanoseconds
            if due > now { usleep(UInt32((due - now) / 1_000)) }
            let record = latencyTraffic.next()
            let id = (try? JSONValue.parse(record.line))?["id"]?.stringValue ?? ""
            sent.withLock { $0[id] = DispatchTime.now().uptimeNanoseconds }
            try producer.produce(topic: "bench-latency", key: Array(record.key.utf8), value: Array(record.line.utf8))
        }
        let deadline = Date(timeIntervalSinceNow: 30)
        while Date() < deadline, latencies.withLock({ $0.count }) < total { usleep(5_000) }
        host.stopIntake()
        host.shutdown(drain: false)
        try? FileManager.default.removeItem(atPath: directory)
        let sorted = latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { throw ValidationError("no latency samples") }
        func percentile(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] }
        print("")
        print(String(format: "produce-to-handled at %d events/s for %d s (%d samples, target p99 <= 10 ms): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                     rate, seconds, sorted.count, percentile(0.5) / 1000, percentile(0.99) / 1000, sorted.last! / 1000))
    }

    func rateText(_ value: Double) -> String { value >= 1e6 ? String(format: "%.2f M", value / 1e6) : String(format: "%.1f k", value / 1e3) }

    /// Messages per second of a bare consumer reading `count` messages, timed from the first one.
    func consumeRate(_ bootstrap: String, count: Int) throws -> Double {
        let consumer = try KafkaConsumer(bootstrapServers: bootstrap, groupId: "bench-raw", topics: ["pos-events"], properties: ["fetch.wait.max.ms": String(fetchWait)])
        defer { consumer.close() }
        var received = 0
        var started: UInt64 = 0
        let deadline = Date(timeIntervalSinceNow: 120)
        while received < count, Date() < deadline {
            if try consumer.poll(timeoutMilliseconds: 100) != nil {
                if received == 0 { started = DispatchTime.now().uptimeNanoseconds }
                received += 1
            }
        }
        guard received == count else { throw ValidationError("the raw consumer read \(received) of \(count)") }
        return Double(count - 1) / (Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// Messages per second of a bare consumer that joined first, timed from the first produce.
    func liveConsumeRate(cluster: EmbeddedKafkaCluster, producer: KafkaProducer, records: [(key: String, line: String)]) throws -> Double {
        let assigned = Mutex(false)
        let consumer = try KafkaConsumer(
            bootstrapServers: cluster.bootstrapServers, groupId: "bench-live", topics: ["bench-live"], properties: ["fetch.wait.max.ms": String(fetchWait)],
            onAssign: { _ in assigned.withLock { $0 = true } })
        defer { consumer.close() }
        while !assigned.withLock({ $0 }) { _ = try consumer.poll(timeoutMilliseconds: 100) }
        let started = DispatchTime.now().uptimeNanoseconds
        let producing = Thread {
            for record in records { try? producer.produce(topic: "bench-live", key: Array(record.key.utf8), value: Array(record.line.utf8)) }
            try? producer.flush(timeoutMilliseconds: 60_000)
        }
        producing.start()
        var received = 0
        let deadline = Date(timeIntervalSinceNow: 120)
        while received < records.count, Date() < deadline {
            if try consumer.poll(timeoutMilliseconds: 100) != nil { received += 1 }
        }
        guard received == records.count else { throw ValidationError("the live consumer read \(received) of \(records.count)") }
        return Double(received) / (Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// An in-process host consuming `topic` with `plugins` C counters, ready (groups joined).
    func startHost(
        cluster: EmbeddedKafkaCluster, topic: String, plugins: Int, logger: Logger, onSettled: (@Sendable (String, Event, Settlement) -> Void)?
    ) throws -> (HostRuntime, String) {
        // Beside the plugins directory, not under /tmp: the loader refuses sticky ancestors.
        let directory = URL(fileURLWithPath: pluginsDir).deletingLastPathComponent().path + "/pos-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        chmod(directory, 0o755)
        let names = ["event_counter"] + (2...5).map { "counter_\($0)" }
        for name in names.prefix(plugins) {
            try FileManager.default.copyItem(atPath: pluginsDir + "/" + name + ".so", toPath: directory + "/plugins.d/" + name + ".so")
            _ = FileManager.default.createFile(atPath: directory + "/plugins.d/" + name + ".yaml", contents: Data("enabled: true\n".utf8))
        }
        let config = """
            plugins_dir: plugins.d
            control_socket: run/host.sock
            log_level: error
            dispatch: {queue_capacity: 4096, batch_size: 64}
            kafka:
              bootstrap_servers: "\(cluster.bootstrapServers)"
              topics: [\(topic)]
              group_prefix: bench
              fetch_wait_ms: \(fetchWait)

            """
        _ = FileManager.default.createFile(atPath: directory + "/config.yaml", contents: Data(config.utf8))
        let host = try HostRuntime(configPath: directory + "/config.yaml", baseDirectory: directory, logger: logger, onSettled: onSettled)
        try host.start(watch: false, control: false)
        guard host.kafka?.bridge.waitUntilAssigned(timeoutSeconds: 60) == true else { throw ValidationError("consumers did not join") }
        return (host, directory)
    }
}
