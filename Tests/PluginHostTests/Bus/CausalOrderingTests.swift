import Foundation
import Testing

@testable import PluginHost

/// The ordering logic of ADR 14 through its in-memory parts: a day of input spread over 1, 3
/// or 6 partitions and read in random interleavings by two plugins, one emitting an event per
/// input event and the other taking those emitted events, must give the same sequence each time.
@Suite struct CausalOrderingTests {
    @Test func emittedOrderIdsSortRightAfterTheirCause() {
        let cause = OrderKey(time: 5, id: "ab12")
        let emitted = OrderKey(time: 5, id: OrderKey.emissionID(cause: "ab12", emitter: "fraud", index: 1))
        #expect(cause < emitted)
        #expect(emitted < OrderKey(time: 5, id: "ab13"))
        #expect(emitted < OrderKey(time: 5, id: "ab120"))
        #expect(emitted < OrderKey(time: 6, id: "0"))
        #expect(OrderKey(time: 5, id: OrderKey.emissionID(cause: "ab12", emitter: "fraud", index: 9))
            < OrderKey(time: 5, id: OrderKey.emissionID(cause: "ab12", emitter: "fraud", index: 10)))
        #expect(cause < cause.successor && cause.successor < emitted)
        // Bytes, not Unicode collation: "Z" (0x5a) sorts before "a" (0x61).
        #expect(OrderKey(time: 1, id: "Z") < OrderKey(time: 1, id: "a"))
    }

    /// Input events with strictly increasing times, ids not in time order.
    static func day(_ count: Int, seed: UInt64) -> [Event] {
        var random = SplitMix64(seed: seed)
        var time: Int64 = 1_000
        return (0..<count).map { index in
            time += Int64(random.next(upTo: 50) + 1)
            return Event(id: String(format: "%08x", UInt32(truncatingIfNeeded: random.next())), type: "ITEM_ADDED", key: "b\(index % 7)", timeMilliseconds: time, payload: Array("{}".utf8))
        }
    }

    @Test(arguments: [1, 3, 6])
    func theMergeIsTheSameWhateverThePartitionsAndInterleaving(partitions: Int) {
        let events = Self.day(300, seed: 11)
        for seed in UInt64(1)...5 {
            var random = SplitMix64(seed: seed)
            let layout = (0..<partitions).map { TopicPartition(topic: "t", partition: Int32($0)) }
            var queues = layout.map { partition in events.filter { Int(PluginDispatcher.stableHash($0.key) % UInt64(layout.count)) == Int(partition.partition) } }
            var merger = EventTimeMerger()
            var released: [String] = []
            while released.count < events.count {
                let open = queues.indices.filter { !queues[$0].isEmpty }
                if let index = open.randomElement(using: &random), random.next(upTo: 3) > 0 {
                    merger.add(queues[index].removeFirst(), from: layout[index])
                }
                while let next = merger.releasable(assigned: layout, isCaughtUp: { queues[Int($0.partition)].isEmpty }) {
                    released.append(merger.pop(next)!.id)
                }
            }
            #expect(released == events.map(\.id))
        }
    }

    @Test func onePartitionKeepsItsOrderEvenWhenTimesGoBack() {
        var merger = EventTimeMerger()
        let partition = TopicPartition(topic: "t", partition: 0)
        for (id, time) in [("a", 10), ("b", 9), ("c", 9), ("d", 11)] {
            merger.add(Event(id: id, type: "X", key: "k", timeMilliseconds: Int64(time), payload: []), from: partition)
        }
        var released: [String] = []
        while let next = merger.releasable(assigned: [partition], isCaughtUp: { _ in true }) { released.append(merger.pop(next)!.id) }
        #expect(released == ["a", "b", "c", "d"])
    }

    /// Two plugins over one log: `emitter` emits one event per input event; `taker` takes the
    /// input and those emitted events. Scheduling is random (which plugin reads, which settles);
    /// what `taker` handles must always be the input and the emissions merged by key.
    @Test(arguments: [1, 3, 6])
    func emittedEventsReachTheirTakerInTheirCausalPlace(partitions: Int) {
        let events = Self.day(200, seed: 5)
        var expected: [String] = []
        for event in events {
            expected.append(event.id)
            expected.append("emitted-\(event.id)")
        }
        for seed in UInt64(1)...6 {
            let taken = Self.run(events, partitions: partitions, seed: seed)
            #expect(taken == expected, "seed \(seed)")
        }
    }

    final class SimulatedPlugin {
        let ordering: CausalOrdering
        var inbox: [[Event]]
        var submitted: [Event] = []
        var handled: [String] = []
        let layout: [TopicPartition]
        init(_ name: String, log: InMemoryCausalLog, events: [Event], layout: [TopicPartition]) {
            log.register(name, subscriptions: name == "taker" ? ["*"] : ["ITEM_ADDED"], emits: name == "taker" ? [] : ["EMITTED"])
            ordering = CausalOrdering(plugin: name, log: log)
            self.layout = layout
            inbox = layout.map { partition in
                events.filter { Int(PluginDispatcher.stableHash($0.key) % UInt64(layout.count)) == Int(partition.partition) }.enumerated().map { offset, event in
                    var placed = event
                    placed.position = EventPosition(topic: partition.topic, partition: partition.partition, offset: Int64(offset))
                    return placed
                }
            }
        }
        var readPositions: [TopicPartition: Int64] = [:]
        func caughtUp(_ partition: TopicPartition) -> Bool { inbox[Int(partition.partition)].isEmpty }
        func read(_ random: inout SplitMix64) {
            let open = inbox.indices.filter { !inbox[$0].isEmpty }
            if let index = open.randomElement(using: &random) {
                let event = inbox[index].removeFirst()
                readPositions[layout[index]] = event.position!.offset + 1
                ordering.add(event, from: layout[index])
            }
        }
        func pump(wants: (String) -> Bool) {
            var read = readPositions
            for partition in layout where read[partition] == nil { read[partition] = 0 }
            ordering.pump(assigned: layout, read: read, isCaughtUp: caughtUp, wants: wants) { event in
                submitted.append(event)
                return true
            }
            ordering.publish(attached: true, assigned: layout, read: read, isCaughtUp: caughtUp)
        }
    }

    static func run(_ events: [Event], partitions: Int, seed: UInt64) -> [String] {
        var random = SplitMix64(seed: seed)
        let log = InMemoryCausalLog()
        let layout = (0..<partitions).map { TopicPartition(topic: "t", partition: Int32($0)) }
        let emitter = SimulatedPlugin("emitter", log: log, events: events, layout: layout)
        let taker = SimulatedPlugin("taker", log: log, events: events, layout: layout)
        var rounds = 0
        while taker.handled.count < events.count * 2 && rounds < 200_000 {
            rounds += 1
            switch random.next(upTo: 6) {
            case 0: emitter.read(&random)
            case 1: taker.read(&random)
            case 2: emitter.pump { $0 == "ITEM_ADDED" }
            case 3: taker.pump { _ in true }
            case 4:
                // The emitter handles (and commits) what it was given, emitting one event each.
                for event in emitter.submitted {
                    var emitted = Event(id: "emitted-\(event.id)", type: "EMITTED", key: event.key, timeMilliseconds: event.timeMilliseconds, payload: [], source: "plugin:emitter")
                    emitted.orderId = OrderKey.emissionID(cause: event.orderKey.id, emitter: "emitter", index: 0)
                    log.append([emitted], by: "emitter")
                    emitter.ordering.settled(event, .handled)
                }
                emitter.submitted = []
            default:
                for event in taker.submitted {
                    taker.handled.append(event.id)
                    taker.ordering.settled(event, .handled)
                }
                taker.submitted = []
            }
        }
        return taker.handled
    }
}

/// ABI 1.1: a plugin that declares what it emits cannot emit anything else (the causal order
/// relies on the declaration to know whom to wait for).
@Suite struct DeclaredEmitsTests {
    @Test func anUndeclaredTypeIsRefusedAndADeclaredOneAccepted() throws {
        let context = PluginRuntimeContext(name: "p", logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: ManualClock())
        context.declaredEmits.withLock { $0 = ["BASKET_TOTALLED"] }
        let call = PluginCall(kind: .handleEvent, context: context, event: TestSupport.event(seq: 1))
        #expect(throws: HostError.self) { try call.emit(type: "FRAUD_ALERT", key: "k", payload: Array("{}".utf8)) }
        try call.emit(type: "BASKET_TOTALLED", key: "k", payload: Array("{}".utf8))
        #expect(call.emitted.map(\.type) == ["BASKET_TOTALLED"])
        #expect(call.emitted[0].orderKey > TestSupport.event(seq: 1).orderKey)
    }
}
