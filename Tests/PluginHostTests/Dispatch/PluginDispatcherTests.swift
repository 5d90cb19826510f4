import Foundation
import Testing

@testable import PluginHost

@Suite struct PluginDispatcherTests {
    func makeDispatcher(
        _ instance: ScriptedPluginInstance, lanes: Int = 4, capacity: Int = 1024, batchSize: Int = 8, maxAttempts: Int = 3,
        deadLetters: InMemoryDeadLetterSink = InMemoryDeadLetterSink(), settlements: SettlementLog? = nil
    ) -> (PluginDispatcher, PluginMetrics) {
        let metrics = PluginMetrics()
        let dispatcher = PluginDispatcher(
            name: "scripted", instance: instance, laneCount: lanes, capacity: capacity, batchSize: batchSize,
            retry: RetryPolicy(maxAttempts: maxAttempts, initialBackoffMilliseconds: 1, maxBackoffMilliseconds: 2),
            deadLetters: deadLetters, metrics: metrics, clock: ManualClock(milliseconds: 7), logger: TestSupport.quietLogger,
            onSettled: settlements.map { log in { @Sendable event, settlement in log.record("scripted", event, settlement) } })
        return (dispatcher, metrics)
    }

    @Test func keepsOrderPerKeyWhileLanesRunInParallel() throws {
        let instance = ScriptedPluginInstance(concurrentKeys: true, delayMicroseconds: 50)
        let (dispatcher, metrics) = makeDispatcher(instance, lanes: 4)
        let keys = (0..<8).map { "basket_\($0)" }
        for seq in 0..<100 { for key in keys { dispatcher.submit(TestSupport.event(seq: seq, key: key)) } }
        dispatcher.drain()
        dispatcher.stop()
        for key in keys {
            let order = instance.calls.filter { $0.key == key }.map(\.id)
            #expect(order == (0..<100).map { "event-\(key)-\($0)" })
        }
        #expect(Set(instance.calls.map(\.thread)).count == 4)
        #expect(instance.peakConcurrency > 1)
        #expect(metrics.snapshot().handled == 800 && metrics.snapshot().queueDepth == 0)
    }

    @Test func aPluginWithoutConcurrentKeysGetsOneLane() {
        let instance = ScriptedPluginInstance(concurrentKeys: false)
        let (dispatcher, _) = makeDispatcher(instance, lanes: 4)
        for seq in 0..<50 { dispatcher.submit(TestSupport.event(seq: seq, key: "k\(seq % 5)")) }
        dispatcher.drain()
        dispatcher.stop()
        #expect(dispatcher.laneCount == 1)
        #expect(instance.peakConcurrency == 1)
        #expect(instance.handledIDs == (0..<50).map { "event-k\($0 % 5)-\($0)" })
    }

    @Test func retriesThenSucceedsWithoutOvertakingOnTheSameKey() {
        let first = TestSupport.event(seq: 1)
        let instance = ScriptedPluginInstance(script: [first.id: [.retry("busy"), .retry("busy")]])
        let (dispatcher, metrics) = makeDispatcher(instance, maxAttempts: 5)
        dispatcher.submit(first)
        dispatcher.submit(TestSupport.event(seq: 2))
        dispatcher.drain()
        dispatcher.stop()
        #expect(instance.calls.map { "\($0.id)#\($0.attempt)" } == ["event-basket_1-1#1", "event-basket_1-1#2", "event-basket_1-1#3", "event-basket_1-2#1"])
        let snapshot = metrics.snapshot()
        #expect(snapshot.handled == 2 && snapshot.retried == 2 && snapshot.failed == 2 && snapshot.deadLettered == 0)
    }

    @Test func deadLettersPoisonAtOnceAndExhaustedRetriesAfterMaxAttempts() throws {
        let poison = TestSupport.event(seq: 1)
        let flaky = TestSupport.event(seq: 2)
        let instance = ScriptedPluginInstance(script: [poison.id: [.reject("bad basket")], flaky.id: Array(repeating: .retry("timeout"), count: 10)])
        let deadLetters = InMemoryDeadLetterSink()
        let settlements = SettlementLog()
        let (dispatcher, metrics) = makeDispatcher(instance, maxAttempts: 3, deadLetters: deadLetters, settlements: settlements)
        for event in [poison, flaky, TestSupport.event(seq: 3)] { dispatcher.submit(event) }
        dispatcher.drain()
        dispatcher.stop()
        let records = deadLetters.records
        #expect(records.count == 2)
        let rejected = try #require(records.first { $0.eventId == poison.id })
        #expect(rejected.reason == .rejected && rejected.error == "bad basket" && rejected.attempts == 1 && rejected.plugin == "scripted")
        #expect(rejected.payload == #"{"seq": 1}"# && rejected.timeMilliseconds == 7)
        let exhausted = try #require(records.first { $0.eventId == flaky.id })
        #expect(exhausted.reason == .retriesExhausted && exhausted.error == "timeout" && exhausted.attempts == 3)
        #expect(metrics.snapshot().deadLettered == 2 && metrics.snapshot().handled == 1)
        #expect(settlements.count("scripted", .deadLettered) == 2 && settlements.count("scripted", .handled) == 1)
    }

    @Test func aFullQueueMakesSubmitWait() throws {
        let instance = ScriptedPluginInstance()
        instance.closeGate()
        let (dispatcher, _) = makeDispatcher(instance, lanes: 1, capacity: 4, batchSize: 1)
        // One event is taken into flight, four fill the queue; the sixth must wait.
        for seq in 0..<5 { dispatcher.submit(TestSupport.event(seq: seq)) }
        let sixthQueued = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            dispatcher.submit(TestSupport.event(seq: 5))
            sixthQueued.signal()
        }
        #expect(sixthQueued.wait(timeout: .now() + 0.3) == .timedOut)
        instance.openGate()
        #expect(sixthQueued.wait(timeout: .now() + 5) == .success)
        dispatcher.drain()
        dispatcher.stop()
        #expect(instance.handledIDs.count == 6)
    }

    @Test func stopLetsTheEventInFlightFinishAndHandsBackTheRest() throws {
        let instance = ScriptedPluginInstance()
        instance.closeGate()
        let settlements = SettlementLog()
        let (dispatcher, metrics) = makeDispatcher(instance, lanes: 1, batchSize: 1, settlements: settlements)
        for seq in 0..<5 { dispatcher.submit(TestSupport.event(seq: seq)) }
        #expect(TestSupport.eventually { instance.entered.load(ordering: .sequentiallyConsistent) == 1 })  // event 0 is in the plugin
        let stopped = DispatchSemaphore(value: 0)
        let abandoned = LockedBox<[Event]>([])
        Thread.detachNewThread {
            abandoned.value = dispatcher.stop()
            stopped.signal()
        }
        // stop() waits for the event in flight.
        #expect(stopped.wait(timeout: .now() + 0.2) == .timedOut)
        instance.openGate()
        #expect(stopped.wait(timeout: .now() + 5) == .success)
        #expect(instance.handledIDs == ["event-basket_1-0"])
        #expect(abandoned.value.map(\.id) == (1..<5).map { "event-basket_1-\($0)" })
        #expect(settlements.count("scripted", .abandoned) == 4 && metrics.snapshot().abandoned == 4 && metrics.snapshot().queueDepth == 0)
        #expect(dispatcher.submit(TestSupport.event(seq: 9)) == false)
    }

    @Test func stopInterruptsABackoffWait() {
        let event = TestSupport.event(seq: 1)
        let instance = ScriptedPluginInstance(script: [event.id: [.retry("down")]])
        let metrics = PluginMetrics()
        let dispatcher = PluginDispatcher(
            name: "scripted", instance: instance, laneCount: 1, capacity: 8, batchSize: 1,
            retry: RetryPolicy(maxAttempts: 5, initialBackoffMilliseconds: 60_000, maxBackoffMilliseconds: 60_000),
            deadLetters: InMemoryDeadLetterSink(), metrics: metrics, clock: ManualClock(), logger: TestSupport.quietLogger)
        dispatcher.submit(event)
        #expect(TestSupport.eventually { metrics.snapshot().retried == 1 })
        let started = Date()
        let abandoned = dispatcher.stop()
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(abandoned.map(\.id) == [event.id])
    }
}

/// A value shared between threads under a lock (test helper).
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
