import ArgumentParser
import Foundation
import PluginHost

@main
struct PosLoadgen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pos-loadgen",
        abstract: "Publishes store traffic to Kafka: generated (terminals, logins, baskets, age checks, payments) or from a JSON-lines file.",
        discussion: "Messages are keyed by basket id, else terminal id, so a basket's events stay in one partition and in order.")

    @Option(help: "Kafka bootstrap servers (pos-host logs the embedded cluster's address at startup).")
    var bootstrapServers: String

    @Option(help: "Topic to publish to.")
    var topic = "pos-events"

    @Option(help: "Events to generate.")
    var events = 1_000

    @Option(help: "Events per second; 0 publishes as fast as possible.")
    var rate: Double = 0

    @Option(help: "Terminals in the simulated store.")
    var terminals = 4

    @Option(help: "canonical (envelope v1) or original (the original system's flat shape and names).")
    var format: String = "canonical"

    @Option(help: "Seed of the generator: the same seed gives the same traffic.")
    var seed: UInt64 = 1

    @Option(help: "Publish the lines of this JSON-lines file instead of generating traffic.")
    var file: String?

    func run() throws {
        guard let format = StoreTrafficGenerator.Format(rawValue: format) else {
            throw ValidationError("--format must be canonical or original")
        }
        let producer = try KafkaProducer(bootstrapServers: bootstrapServers)
        var records: [(key: String, line: String)] = []
        if let file {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let object = (try? JSONValue.parse(String(line)))?.objectValue
                let fields = object?["payload"]?.objectValue ?? object ?? [:]
                let key = object?["key"]?.stringValue ?? fields["basket_id"]?.stringValue ?? fields["terminal_id"]?.stringValue ?? ""
                records.append((key, String(line)))
            }
        } else {
            var generator = StoreTrafficGenerator(terminals: terminals, format: format, seed: seed)
            records = (0..<events).map { _ in generator.next() }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        for (index, record) in records.enumerated() {
            if rate > 0 {
                let due = started + UInt64(Double(index) / rate * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(UInt32((due - now) / 1_000)) }
            }
            try producer.produce(topic: topic, key: record.key.isEmpty ? nil : Array(record.key.utf8), value: Array(record.line.utf8))
        }
        try producer.flush(timeoutMilliseconds: 60_000)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        FileHandle.standardError.write(Data(String(format: "pos-loadgen: %d events to %@ in %.2f s (%.0f events/s), %d delivery failures\n", records.count, topic, seconds, Double(records.count) / seconds, producer.failedCount).utf8))
        producer.close()
        if producer.failedCount > 0 { throw ExitCode(1) }
    }
}
