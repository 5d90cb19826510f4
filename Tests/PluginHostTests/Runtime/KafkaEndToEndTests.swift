import Crypto
import Foundation
import Testing

@testable import PluginHost

/// The host against librdkafka's mock cluster over TCP, the cluster owned by the test so it
/// outlives host restarts; producers and readers are independent clients.
@Suite(.serialized, .timeLimit(.minutes(10))) struct KafkaEndToEndTests {
    static func produce(_ lines: [(key: String, line: String)], to bootstrap: String, topic: String = "pos-events") throws {
        let producer = try KafkaProducer(bootstrapServers: bootstrap)
        for record in lines { try producer.produce(topic: topic, key: record.key.isEmpty ? nil : Array(record.key.utf8), value: Array(record.line.utf8)) }
        try producer.flush()
        producer.close()
    }

    static func traffic(_ count: Int, seed: UInt64, format: StoreTrafficGenerator.Format = .canonical) -> [(key: String, line: String)] {
        var generator = StoreTrafficGenerator(terminals: 3, format: format, seed: seed)
        return (0..<count).map { _ in generator.next() }
    }

    /// Every message of `topic`, read by a fresh group.
    static func readAll(_ bootstrap: String, topic: String, atLeast count: Int) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(bootstrapServers: bootstrap, groupId: "reader-\(UUID().uuidString)", topics: [topic])
        defer { consumer.close() }
        return try KafkaClientTests.drain(consumer, count: count, seconds: 20)
    }

    func handled(_ host: HostProcess, _ plugin: String) -> Int { (try? host.plugin(plugin)?.metrics.handled) ?? -1 }

    @Test func routesTheBusToPluginsAndProducesWhatTheyEmit() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-e2e", bootstrap: cluster.bootstrapServers)
        try host.start()
        let canonical = Self.traffic(300, seed: 1)
        let original = Self.traffic(200, seed: 2, format: .original)
        try Self.produce(canonical + original, to: cluster.bootstrapServers)
        let payments = (canonical + original).filter { $0.line.contains("PAYMENT_PROCESSED") || $0.line.contains("payment.completed") }.count
        #expect(payments > 10)
        // event_counter sees everything, including the BASKET_TOTALLED events basket_tally emits.
        #expect(TestSupport.eventually(within: 20) { handled(host, "event_counter") == 500 + payments })
        let status = try host.status()
        #expect(status.ingress.malformed == 0)
        #expect(status.kafkaBootstrapServers == cluster.bootstrapServers)
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.lag) == 0 })

        let totals = try Self.readAll(cluster.bootstrapServers, topic: "pos-events", atLeast: 500 + payments).filter { $0.headers["pos.type"] == Array("BASKET_TOTALLED".utf8) }
        #expect(totals.count == payments)
        let first = try #require(totals.first)
        #expect(first.headers["pos.causation_id"] != nil && first.headers["pos.source"] == Array("plugin:basket_tally".utf8))
        let envelope = try JSONValue.parse(first.value)
        #expect(envelope["type"] == .string("BASKET_TOTALLED") && envelope["causation_id"]?.stringValue == String(decoding: first.headers["pos.causation_id"]!, as: UTF8.self))
        #expect(first.key.map { String(decoding: $0, as: UTF8.self) } == envelope["payload"]?["basket_id"]?.stringValue)
        #expect(host.terminate() == 0)
        cluster.close()
    }

    @Test func aRestartResumesFromCommittedOffsetsWithNothingLostOrRepeated() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-restart", bootstrap: cluster.bootstrapServers)
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")  // only event_counter: counts are exact
        try host.start()
        try Self.produce(Self.traffic(400, seed: 3), to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) { handled(host, "event_counter") == 400 })
        #expect(host.terminate() == 0)  // SIGTERM: drains and commits

        try Self.produce(Self.traffic(250, seed: 4), to: cluster.bootstrapServers)
        let second = try host.restarted()
        #expect(TestSupport.eventually(within: 20) { handled(second, "event_counter") == 250 })
        usleep(500_000)
        #expect(handled(second, "event_counter") == 250, "events handled again after the restart")
        #expect(second.terminate() == 0)
        cluster.close()
    }

    @Test func enablingResumesOrSkipsWhatWasMissedAsConfigured() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-toggle", bootstrap: cluster.bootstrapServers)
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")  // nothing emitted: counts are exact
        try host.start()
        try Self.produce(Self.traffic(100, seed: 5), to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) { handled(host, "event_counter") == 100 })
        let before = handled(host, "event_counter")

        // resume (the default): what was published while disabled is handled after enabling.
        #expect(try host.pluginctl("disable", "event_counter").status == 0)
        try Self.produce(Self.traffic(60, seed: 6), to: cluster.bootstrapServers)
        usleep(300_000)
        #expect(handled(host, "event_counter") == before, "a paused plugin handled events")
        // A paused consumer's lag is the real one (its cached watermarks no longer move).
        #expect(TestSupport.eventually(within: 5) { (try? host.plugin("event_counter")?.lag) == 60 }, "lag \(String(describing: try? host.plugin("event_counter")?.lag))")
        #expect(try host.pluginctl("enable", "event_counter").status == 0)
        #expect(TestSupport.eventually(within: 20) { handled(host, "event_counter") == before + 60 })

        // latest: what was published while disabled is skipped; what comes after is handled.
        TestSupport.write("enabled: false\non_enable: latest\n", to: host.plugins + "/event_counter.yaml")
        #expect(try host.pluginctl("reload").status == 0)
        let afterResume = handled(host, "event_counter")
        try Self.produce(Self.traffic(40, seed: 7), to: cluster.bootstrapServers)
        usleep(300_000)
        #expect(try host.pluginctl("enable", "event_counter").status == 0)
        usleep(500_000)
        #expect(handled(host, "event_counter") == afterResume, "skipped events were handled")
        try Self.produce([("TERM009", #"{"type": "EMPLOYEE_LOGIN", "payload": {"employee_id": 9, "terminal_id": "TERM009"}}"#)], to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 10) { handled(host, "event_counter") == afterResume + 1 })
        #expect(host.terminate() == 0)
        cluster.close()
    }

    @Test func malformedMessagesLandInTheDeadLetterTopicWithTheirReason() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-dlq", bootstrap: cluster.bootstrapServers, extraConfig: "events:\n  max_event_bytes: 300\n")
        try host.start()
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        let bad: [(String, [UInt8])] = [
            ("not JSON", Array("{oops".utf8)),
            ("not a JSON object", Array("[1, 2]".utf8)),
            ("unknown event type 'TELEPORTED'", Array(#"{"event_type": "TELEPORTED", "basket_id": "b"}"#.utf8)),
            ("PAYMENT_PROCESSED: missing required field 'amount'", Array(#"{"event_type": "payment.completed", "basket_id": "b"}"#.utf8)),
            ("oversize", Array(#"{"event_type": "BASKET_CLOSED", "basket_id": "\#(String(repeating: "x", count: 400))"}"#.utf8)),
            ("not valid UTF-8", Array(#"{"event_type": "BASKET_CLOSED", "basket_id": ""#.utf8) + [0xc3, 0x28] + Array(#""}"#.utf8)),
            // A newline and a NUL from a hostile producer: named in dlq.error, never raw in a header.
            ("is not a valid event type name", Array(#"{"event_type": "BASKET\nCLOSED\u0000", "basket_id": "b"}"#.utf8)),
        ]
        for (_, value) in bad { try producer.produce(topic: "pos-events", key: Array("b".utf8), value: value) }
        try producer.produce(topic: "pos-events", key: Array("b".utf8), value: Array(#"{"event_type": "ITEM_ADDED", "basket_id": "b", "product_id": "X"}"#.utf8))
        try producer.flush()
        producer.close()
        // 2 MiB: accepted by the input topic, too large for a dead-letter record as it is.
        let large = Array(#"{"event_type": "BASKET_CLOSED", "basket_id": ""#.utf8) + [UInt8](repeating: 0x61, count: 2 << 20) + Array(#""}"#.utf8)
        let bigProducer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers, properties: ["message.max.bytes": "8000000"])
        try bigProducer.produce(topic: "pos-events", key: Array("b".utf8), value: large)
        try bigProducer.flush()
        bigProducer.close()

        let letters = try Self.readAll(cluster.bootstrapServers, topic: "pos-events.dlq", atLeast: bad.count + 2)
        #expect(letters.count == bad.count + 2)
        func header(_ message: KafkaMessage, _ name: String) -> String? { message.headers[name].map { String(decoding: $0, as: UTF8.self) } }
        for (reason, value) in bad {
            let letter = try #require(letters.first { $0.value == value }, "no dead letter for: \(reason)")
            #expect(header(letter, "dlq.reason") == "malformed")
            #expect(header(letter, "dlq.error")?.contains(reason) == true, "\(header(letter, "dlq.error") ?? "-") should say \(reason)")
            #expect(header(letter, "dlq.original.topic") == "pos-events" && header(letter, "dlq.original.offset") != nil && header(letter, "dlq.original.partition") != nil)
        }
        // A record too large for the dead-letter topic lands truncated, with its size and hash.
        let huge = try #require(letters.first { header($0, "dlq.truncated") == "true" })
        #expect(huge.value.count == 256 * 1024 && huge.value == Array(large.prefix(256 * 1024)))
        #expect(header(huge, "dlq.original.size") == String(large.count))
        #expect(header(huge, "dlq.original.sha256") == SHA256.hash(data: large).map { String(format: "%02x", $0) }.joined())
        #expect(header(huge, "dlq.error")?.hasPrefix("oversize") == true)
        for letter in letters {
            for (name, value) in letter.headers { #expect(!value.contains { $0 < 0x20 || $0 == 0x7f }, "raw control byte in header \(name)") }
        }
        let poison = try #require(letters.first { header($0, "dlq.reason") == "rejected" })
        #expect(header(poison, "dlq.plugin") == "basket_tally" && header(poison, "dlq.error") == "payload does not decode: missing field 'price'" && header(poison, "dlq.attempts") == "1")
        #expect(try JSONValue.parse(poison.value)["type"] == .string("ITEM_ADDED"))  // the envelope, ready to re-publish
        #expect(TestSupport.eventually { (try? host.status().ingress.malformed) == bad.count + 1 })
        #expect(host.terminate() == 0)
        cluster.close()
    }

    @Test func aBrokerOutageLosesNothing() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-outage", bootstrap: cluster.bootstrapServers)
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
        try host.start()
        try Self.produce(Self.traffic(200, seed: 8), to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) { handled(host, "event_counter") == 200 })
        cluster.setBroker(1, up: false)
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        for record in Self.traffic(200, seed: 9) { try producer.produce(topic: "pos-events", key: Array(record.key.utf8), value: Array(record.line.utf8)) }
        sleep(2)
        #expect(handled(host, "event_counter") == 200)
        cluster.setBroker(1, up: true)
        try producer.flush(timeoutMilliseconds: 20_000)
        #expect(producer.failedCount == 0)
        producer.close()
        #expect(TestSupport.eventually(within: 30) { handled(host, "event_counter") == 400 })
        #expect(host.terminate() == 0)
        cluster.close()
    }

    @Test func sigtermMidStreamDrainsAndCommits() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        // A small queue, so the host has read only a little ahead when SIGTERM comes; the
        // fixture's FIXTURE_SEEN events are outside the catalog.
        let host = try HostProcess.onKafka(
            label: "kafka-sigterm", bootstrap: cluster.bootstrapServers,
            extraConfig: "dispatch: {queue_capacity: 8, batch_size: 1}\nevents: {unknown_types: accept}\n")
        TestSupport.write("enabled: false\n", to: host.plugins + "/basket_tally.yaml")
        try TestSupport.buildFixture(into: host.plugins)
        TestSupport.write("enabled: true\nsubscriptions: [ITEM_ADDED]\nsettings: {sleep_us: 2000}\n", to: host.plugins + "/fixture.yaml")
        try host.start()
        // Enough work (2,000 x 2 ms) that the SIGTERM lands mid-stream on a loaded machine too.
        let total = 2_000
        let records = (0..<total).map { seq in ("basket_\(seq % 6)", #"{"type": "ITEM_ADDED", "payload": {"basket_id": "basket_\#(seq % 6)", "product_id": "P", "seq": \#(seq)}}"#) }
        try Self.produce(records, to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) { handled(host, "fixture") > 50 })
        #expect(host.terminate() == 0)
        let summary = host.log.split(separator: "\n").last { $0.hasPrefix("  fixture: ") } ?? ""
        let first = Int(summary.dropFirst("  fixture: ".count).prefix { $0.isNumber }) ?? -1
        #expect(first > 0 && first < total, "expected to stop mid-stream, handled \(first)")

        let second = try host.restarted()
        #expect(TestSupport.eventually(within: 30) { handled(second, "fixture") == total - first })
        usleep(300_000)
        #expect(handled(second, "fixture") == total - first, "lost or repeated events across the SIGTERM")
        #expect(try second.plugin("fixture")?.metrics.counters["order_violations"] == nil)
        #expect(second.terminate() == 0)
        cluster.close()
    }

    /// A SIGTERM while the host is still starting (loading plugins, joining its consumer
    /// groups) stops it once it is up: it is never lost, and the host never needs a SIGKILL.
    /// The host is started by a parent that ignores SIGTERM (as some supervisors and shells
    /// do), so the ignored disposition is inherited: a host that installed its handler only
    /// after joining its groups lost this signal and never stopped.
    @Test func aSigtermDuringStartupStopsTheHost() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let host = try HostProcess.onKafka(label: "kafka-sigterm-startup", bootstrap: cluster.bootstrapServers)
        let binary = host.process.executableURL!.path
        host.process.executableURL = URL(fileURLWithPath: "/bin/sh")
        host.process.arguments = ["-c", #"trap '' TERM; exec "$0" "$@""#, binary] + (host.process.arguments ?? [])
        try host.process.run()
        usleep(150_000)
        #expect(host.terminate(within: 60) == 0, "\(host.log.suffix(2000))")
        cluster.close()
    }
}
