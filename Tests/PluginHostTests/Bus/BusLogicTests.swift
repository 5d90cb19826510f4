import Foundation
import Testing

@testable import PluginHost

@Suite struct BusLogicTests {
    @Test func committedOffsetsNeverPassAnOpenEvent() {
        var progress = PartitionProgress()
        #expect(progress.committable == nil)
        for offset in 10...14 { progress.read(Int64(offset)) }
        progress.settle(12)
        progress.settle(13)
        #expect(progress.committable == 10)  // 10 and 11 are still open
        progress.settle(10)
        #expect(progress.committable == 11)
        progress.settle(11)
        progress.settle(14)
        #expect(progress.committable == 15)
        progress.settle(99)  // unknown offsets (settled after a re-seek) change nothing
        #expect(progress.committable == 15)
    }

    @Test func discardRemovesOnlyQueuedMatchingEvents() {
        let instance = ScriptedPluginInstance()
        instance.closeGate()
        let metrics = PluginMetrics()
        let dispatcher = PluginDispatcher(
            name: "scripted", instance: instance, laneCount: 1, capacity: 64, batchSize: 1,
            retry: RetryPolicy(maxAttempts: 1, initialBackoffMilliseconds: 0, maxBackoffMilliseconds: 0),
            deadLetters: InMemoryDeadLetterSink(), metrics: metrics, clock: ManualClock(), logger: TestSupport.quietLogger)
        for seq in 0..<6 {
            var event = TestSupport.event(seq: seq)
            event.position = EventPosition(topic: "t", partition: Int32(seq % 2), offset: Int64(seq))
            dispatcher.submit(event)
        }
        #expect(TestSupport.eventually { instance.entered.load(ordering: .sequentiallyConsistent) == 1 })  // event 0 in flight
        #expect(dispatcher.discard { $0.position?.partition == 1 } == 3)
        instance.openGate()
        dispatcher.drain()
        dispatcher.stop()
        #expect(instance.handledIDs == ["event-basket_1-0", "event-basket_1-2", "event-basket_1-4"])
        #expect(metrics.snapshot().queueDepth == 0)
    }

    @Test func emitRefusesBadTypesAndPayloadsAndCallsOutsideHandling() throws {
        let context = PluginRuntimeContext(name: "p", logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: ManualClock())
        let call = PluginCall(kind: .handleEvent, context: context, event: TestSupport.event(seq: 1))
        #expect(throws: HostError.self) { try call.emit(type: "NO SPACES", key: "", payload: Array("{}".utf8)) }
        #expect(throws: HostError.self) { try call.emit(type: "OK_TYPE", key: "", payload: Array("[1]".utf8)) }
        #expect(throws: HostError.self) { try call.emit(type: "OK_TYPE", key: "", payload: [0x7b, 0xff, 0x7d]) }  // not UTF-8
        try call.emit(type: "OK_TYPE", key: "", payload: Array(#"{"a": 1}"#.utf8))
        #expect(call.emitted.map(\.key) == ["basket_1"])
        let query = PluginCall(kind: .query, context: context)
        #expect(throws: HostError.self) { try query.emit(type: "OK_TYPE", key: "", payload: Array("{}".utf8)) }
    }

    @Test func jsonParsingTellsBooleansFromZeroAndOne() throws {
        let value = try JSONValue.parse(#"{"t": true, "f": false, "one": 1, "zero": 0, "half": 0.5, "s": "x", "n": null, "l": [true, 1]}"#)
        #expect(value == .object([
            "t": .bool(true), "f": .bool(false), "one": .number(1), "zero": .number(0), "half": .number(0.5), "s": .string("x"), "n": .null,
            "l": .array([.bool(true), .number(1)]),
        ]))
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("{\"a\": tru}") }
    }

    @Test func iso8601EdgeCases() {
        #expect(EventDecoder.parseISO8601("1970-01-01T00:00:00Z") == 0)
        #expect(EventDecoder.parseISO8601("2026-11-25T09:00:00+0100") == EventDecoder.parseISO8601("2026-11-25T08:00:00Z"))
        #expect(EventDecoder.parseISO8601("2024-02-29T12:00:00.5") == 1_709_208_000_500)
        for bad in ["2026-13-01T00:00:00Z", "2026-11-25", "2026-11-25T09:00:00Zjunk", "2026-11-25T09:00:00.Z", ""] {
            #expect(EventDecoder.parseISO8601(bad) == nil, "\(bad) accepted")
        }
    }

    @Test func generatedTrafficIsDeterministicAndPassesTheCatalogInBothFormats() throws {
        let decoder = EventDecoder(maxEventBytes: 4096, clock: ManualClock())
        for format in StoreTrafficGenerator.Format.allCases {
            var first = StoreTrafficGenerator(terminals: 3, format: format, seed: 11)
            var second = StoreTrafficGenerator(terminals: 3, format: format, seed: 11)
            var types: Set<String> = []
            var previousTime: Int64 = 0
            for _ in 0..<2_000 {
                let record = first.next()
                #expect(record == second.next())
                let event = try decoder.decode(Array(record.line.utf8))
                #expect(event.key == record.key)
                #expect(event.timeMilliseconds > previousTime)
                previousTime = event.timeMilliseconds
                types.insert(event.type)
            }
            #expect(types.isSuperset(of: ["EMPLOYEE_LOGIN", "EMPLOYEE_LOGOUT", "BASKET_STARTED", "ITEM_ADDED", "ITEM_REMOVED", "AGE_VERIFIED", "PAYMENT_PROCESSED", "BASKET_CLOSED"]))
        }
        var other = StoreTrafficGenerator(terminals: 3, seed: 12)
        var reference = StoreTrafficGenerator(terminals: 3, seed: 11)
        #expect((0..<20).map { _ in other.next().line } != (0..<20).map { _ in reference.next().line })
    }
}
