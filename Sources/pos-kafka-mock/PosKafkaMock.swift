import ArgumentParser
import Foundation
import PluginHost

/// librdkafka's mock Kafka cluster as a process of its own: a broker that outlives the hosts
/// (crash tests SIGKILL a host without losing the log; operators try the system without a
/// broker). Never for production: it keeps everything in memory.
@main
struct PosKafkaMock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pos-kafka-mock",
        abstract: "Runs librdkafka's mock Kafka cluster on loopback until SIGTERM or SIGINT.",
        discussion: """
            Prints "bootstrap_servers=HOST:PORT" on standard output once the cluster accepts \
            connections, and writes the same address (alone) to --address-file. Point pos-host at it \
            with kafka.bootstrap_servers in config.yaml, and pos-loadgen with --bootstrap-servers. \
            ListOffsets is capped at v3 so that clients other than librdkafka (kafka-python) read it.
            """)

    @Option(help: "Mock brokers in the cluster.")
    var brokers = 1

    @Option(name: .customLong("topic"), help: "A topic to create, NAME or NAME:PARTITIONS (repeatable).")
    var topics: [String] = ["pos-events:3", "pos-events.dlq:1"]

    @Option(help: "Also write the bootstrap address to this file (written atomically).")
    var addressFile: String?

    func validate() throws {
        guard (1...9).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 9") }
        for topic in topics { _ = try Self.parse(topic) }
    }

    static func parse(_ text: String) throws -> (name: String, partitions: Int) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard let name = parts.first, !name.isEmpty, parts.count <= 2 else { throw ValidationError("--topic '\(text)' must be NAME or NAME:PARTITIONS") }
        guard parts.count == 2 else { return (String(name), 1) }
        guard let partitions = Int(parts[1]), (1...256).contains(partitions) else {
            throw ValidationError("--topic '\(text)': partitions must be a number from 1 to 256")
        }
        return (String(name), partitions)
    }

    func run() throws {
        // Block the stop signals before any thread starts, then wait for them synchronously.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let cluster = try EmbeddedKafkaCluster(brokers: brokers, topics: try topics.map(Self.parse))
        if let addressFile {
            let temporary = addressFile + ".tmp"
            try (cluster.bootstrapServers + "\n").write(toFile: temporary, atomically: false, encoding: .utf8)
            guard rename(temporary, addressFile) == 0 else { throw ValidationError("cannot write \(addressFile): \(String(cString: strerror(errno)))") }
        }
        // Written straight to fd 1 (unbuffered), so a parent reading the pipe sees it at once.
        FileHandle.standardOutput.write(Data("bootstrap_servers=\(cluster.bootstrapServers)\n".utf8))
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        cluster.close()
        if let addressFile { unlink(addressFile) }
    }
}
