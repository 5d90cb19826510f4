import Foundation
import Synchronization
import Testing

@testable import PluginHost

/// Defence in depth: a record that kills the host while it is decoded is dead-lettered after
/// three starts in a row die on it, and a dead letter the sink refuses is retried until written,
/// never lost, never written twice.
@Suite(.serialized, .timeLimit(.minutes(10))) struct PoisonRecordTests {
    @Test func theJournalCountsStartsInARowThatFoundARecordInFlight() {
        let directory = TestSupport.temporaryDirectory("journal")
        func crashWhileDecoding(_ offset: Int64) {
            let journal = DecodeCrashJournal(directory: directory)
            var idle = journal.slot()
            idle.begin("pos-events", 0, 1)
            idle.end()  // decoded: not in flight
            var slot = journal.slot()
            slot.begin("pos-events", 2, offset)  // the "crash": never ended
        }
        crashWhileDecoding(41)
        crashWhileDecoding(41)
        let third = DecodeCrashJournal(directory: directory)
        #expect(third.foundInFlight == [.init(topic: "pos-events", partition: 2, offset: 41): 2])
        #expect(third.poison.isEmpty && third.crashes("pos-events", 2, 41) == nil)
        var slot = third.slot()
        slot.begin("pos-events", 2, 41)
        let fourth = DecodeCrashJournal(directory: directory)
        #expect(fourth.crashes("pos-events", 2, 41) == 3 && fourth.crashes("pos-events", 0, 1) == nil)
        // A start that did not find it drops it: "in a row".
        let fifth = DecodeCrashJournal(directory: directory)
        #expect(fifth.foundInFlight.isEmpty && fifth.poison.isEmpty)
        crashWhileDecoding(7)
        #expect(DecodeCrashJournal(directory: directory).foundInFlight == [.init(topic: "pos-events", partition: 2, offset: 7): 1])
    }

    @Test func aRecordThatKillsTheHostThreeTimesIsDeadLetteredAndTheRestFlows() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let marker = "TRAP-ME-7f3"
        let first = try HostProcess.onKafka(label: "poison", bootstrap: cluster.bootstrapServers)
        // No Swift backtrace on the trap: on a loaded machine it can take longer than the wait.
        first.process.environment = ProcessInfo.processInfo.environment.merging(["POS_FAULT_TRAP_ON_DECODE": marker, "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        try first.start()
        // One key, so the poison comes first on its partition and nothing after it is committed.
        let poison = #"{"event_type": "BASKET_CLOSED", "basket_id": "\#(marker)"}"#
        let good = (0..<20).map { #"{"type": "ITEM_ADDED", "payload": {"basket_id": "b", "product_id": "P\#($0)", "quantity": 1, "price": 1.5}}"# }
        try KafkaEndToEndTests.produce([("b", poison)] + good.map { ("b", $0) }, to: cluster.bootstrapServers)
        #expect(first.waitUntilItDies(within: 90) != 0)
        for _ in 0..<2 {
            let again = first.next()
            try again.process.run()
            #expect(again.waitUntilItDies(within: 90) != 0)
        }
        let fourth = try first.restarted()
        #expect(TestSupport.eventually(within: 30) { (try? fourth.plugin("event_counter")?.metrics.handled) == 20 })
        #expect(try fourth.status().ingress.poisonRecords?.count == 1)
        #expect(fourth.log.contains("start(s) in a row): now dead-lettered and skipped"))
        let letters = try KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events.dlq", atLeast: 1)
        #expect(letters.count == 1 && letters.first?.value == Array(poison.utf8))
        #expect(letters.first?.headers["dlq.error"].map { String(decoding: $0, as: UTF8.self) }?.contains("crashed the host") == true)
        #expect(fourth.terminate() == 0)
        cluster.close()
    }

    /// Refuses every dead letter while `refusing` is set.
    final class RefusingSink: DeadLetterSink {
        let refusing = Atomic<Bool>(true)
        let written = Mutex<[DeadLetterRecord]>([])
        func deadLetter(_ record: DeadLetterRecord) throws {
            guard !refusing.load(ordering: .relaxed) else { throw HostError("broker refuses the dead-letter topic") }
            written.withLock { $0.append(record) }
        }
    }

    @Test func aRefusedDeadLetterIsRetriedUntilWrittenAndNeverRepeated() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        let directory = TestSupport.temporaryDirectory("dlq-retry")
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true)
        chmod(directory + "/plugins.d", 0o755)
        TestSupport.write(
            "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\nkafka:\n  bootstrap_servers: \"\(cluster.bootstrapServers)\"\n  group_prefix: retry\n",
            to: directory + "/config.yaml")
        let sink = RefusingSink()
        func runtime() throws -> HostRuntime {
            try HostRuntime(configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, emitted: InMemoryEventSink(), deadLetters: sink)
        }
        let host = try runtime()
        try host.start(watch: false, control: false)
        let valid = #"{"type": "ITEM_ADDED", "payload": {"basket_id": "b", "product_id": "P", "quantity": 1, "price": 1.5}}"#
        try KafkaEndToEndTests.produce([("b", "{bad 1"), ("b", valid), ("b", "{bad 2"), ("c", "{bad 3")], to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) { (host.status().ingress.deadLetterFailures ?? 0) >= 3 })
        let waiting = host.status().ingress
        #expect(waiting.deadLettersPending ?? 0 >= 2, "pending: \(waiting.deadLettersPending ?? -1)")
        #expect(waiting.lastDeadLetterError?.contains("broker refuses") == true)
        #expect(sink.written.withLock { $0.isEmpty })
        sink.refusing.store(false, ordering: .relaxed)
        #expect(TestSupport.eventually(within: 40) { sink.written.withLock { $0.count } == 3 && host.status().ingress.deadLettersPending == 0 })
        let order = sink.written.withLock { $0.filter { $0.origin?.contains("/") == true }.map(\.payload) }
        #expect(order.filter { $0.hasPrefix("{bad") }.count == 3)
        #expect(order.firstIndex(of: "{bad 1")! < order.firstIndex(of: "{bad 2")!, "a partition's dead letters keep their order: \(order)")
        host.shutdown(drain: true)
        // Written once: a restart reads nothing that was dead-lettered again.
        let again = try runtime()
        try again.start(watch: false, control: false)
        try KafkaEndToEndTests.produce([("b", "{bad 4")], to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 30) { sink.written.withLock { $0.count } == 4 })
        usleep(500_000)
        #expect(sink.written.withLock { $0.map(\.payload) }.suffix(1) == ["{bad 4"], "\(sink.written.withLock { $0.map(\.payload) })")
        again.shutdown(drain: true)
        cluster.close()
    }
}
