import Foundation
import Testing

@testable import POSCheckout
@testable import PluginHost

/// The hub's logic in memory: routing, resume without gap or repeat, the retention window,
/// dropping a subscriber that falls behind, and the decoders of bytes read from the bus.
@Suite struct LiveHubTests {
    static func event(_ type: String, partition: Int32, offset: Int64, terminal: String? = "T1", basket: String? = nil, time: Int64 = 1_000) -> LiveEvent {
        var payload: [String: JSONValue] = [:]
        if let terminal { payload["terminal_id"] = .string(terminal) }
        if let basket { payload["basket_id"] = .string(basket) }
        var event = LiveEvent(id: "e-\(partition)-\(offset)", type: type, timeMilliseconds: time, payload: payload, partition: partition, offset: offset)
        event.terminalId = terminal
        event.basketId = basket
        return event
    }

    static func drain(_ subscriber: LiveSubscriber, _ count: Int) async -> [String] {
        var ids: [String] = []
        for await event in subscriber.stream {
            ids.append(event.id)
            subscriber.written()
            if ids.count == count { break }
        }
        return ids
    }

    @Test func routesByTillBasketAndType() async throws {
        let hub = LiveHub()
        hub.started(at: [0: 0, 1: 0])
        let till = try hub.subscribe(LiveFilter(.terminal("T1"), types: ["FRAUD_ALERT"]))
        let basket = try hub.subscribe(LiveFilter(.basket("B1")))
        let store = try hub.subscribe(LiveFilter(.store, types: ["FRAUD_ALERT"]))
        hub.dispatch(Self.event("ITEM_ADDED", partition: 0, offset: 0, basket: "B1"))
        hub.dispatch(Self.event("FRAUD_ALERT", partition: 1, offset: 0, terminal: "T2"))
        hub.dispatch(Self.event("FRAUD_ALERT", partition: 0, offset: 1, basket: "B1"))
        #expect(await Self.drain(till, 1) == ["e-0-1"])
        #expect(await Self.drain(basket, 2) == ["e-0-0", "e-0-1"])
        #expect(await Self.drain(store, 2) == ["e-1-0", "e-0-1"])
        #expect(till.waitingCount == 0)
    }

    @Test func resumingFromACursorOrAnIdSendsExactlyWhatCameAfter() async throws {
        let hub = LiveHub()
        hub.started(at: [0: 0, 1: 0])
        let first = try hub.subscribe(LiveFilter(.terminal("T1")))
        hub.dispatch(Self.event("A", partition: 0, offset: 0))
        hub.dispatch(Self.event("A", partition: 1, offset: 0))
        var seen: [LiveEvent] = []
        for await event in first.stream {
            seen.append(event)
            if seen.count == 2 { break }
        }
        hub.unsubscribe(first)
        hub.dispatch(Self.event("A", partition: 0, offset: 1))
        hub.dispatch(Self.event("A", partition: 1, offset: 1))
        // The cursor of the last message seen: 0 -> 1, 1 -> 1.
        #expect(seen.last?.cursor == LiveCursor(next: [0: 1, 1: 1]))
        let byCursor = try hub.subscribe(LiveFilter(.terminal("T1")), after: seen.last!.cursor)
        hub.dispatch(Self.event("A", partition: 0, offset: 2))
        #expect(await Self.drain(byCursor, 3) == ["e-0-1", "e-1-1", "e-0-2"])
        let byId = try hub.subscribe(LiveFilter(.terminal("T1")), afterEventId: "e-1-0")
        #expect(await Self.drain(byId, 3) == ["e-0-1", "e-1-1", "e-0-2"])
        // A record read twice (a partition re-read) is not sent twice.
        hub.dispatch(Self.event("A", partition: 0, offset: 2))
        hub.dispatch(Self.event("A", partition: 0, offset: 3))
        #expect(await Self.drain(byCursor, 1) == ["e-0-3"])
    }

    @Test func aCursorFromAFasterInstanceHoldsBackWhatItAlreadyHad() async throws {
        let hub = LiveHub()
        hub.started(at: [0: 0])
        let ahead = try hub.subscribe(LiveFilter(.terminal("T1")), after: LiveCursor(next: [0: 2]))
        for offset in 0..<4 { hub.dispatch(Self.event("A", partition: 0, offset: Int64(offset))) }
        #expect(await Self.drain(ahead, 2) == ["e-0-2", "e-0-3"])
    }

    @Test func eventsOutsideTheWindowCannotBeResumedFrom() throws {
        var limits = LiveHub.Limits()
        limits.retainedEvents = 3
        limits.retentionMilliseconds = 10_000
        let hub = LiveHub(limits: limits)
        #expect(throws: LiveHub.ResumeProblem.notReady) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 0])) }
        hub.started(at: [0: 0])
        for offset in 0..<5 { hub.dispatch(Self.event("A", partition: 0, offset: Int64(offset))) }
        #expect(throws: LiveHub.ResumeProblem.tooOld) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 1])) }
        #expect(throws: Never.self) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 2])) }
        #expect(throws: LiveHub.ResumeProblem.unknownEvent) { try hub.subscribe(LiveFilter(.store), afterEventId: "e-0-0") }
        // By age as well: an event 10 s younger than the first pushes it out.
        hub.dispatch(Self.event("A", partition: 0, offset: 5, time: 20_000))
        #expect(throws: LiveHub.ResumeProblem.tooOld) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 4])) }
    }

    @Test func hugeEventsAreKeptOnlyUpToTheByteLimit() throws {
        var limits = LiveHub.Limits()
        limits.retainedBytes = 1_000
        let hub = LiveHub(limits: limits)
        hub.started(at: [0: 0])
        for offset in 0..<4 {
            var event = Self.event("A", partition: 0, offset: Int64(offset))
            event.size = 400
            hub.dispatch(event)
        }
        #expect(hub.statistics["retained"] == .number(2))
        #expect(throws: LiveHub.ResumeProblem.tooOld) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 1])) }
        #expect(throws: Never.self) { try hub.subscribe(LiveFilter(.store), after: LiveCursor(next: [0: 2])) }
    }

    @Test func aSubscriberThatFallsBehindIsDroppedAndTheOthersAreNot() async throws {
        var limits = LiveHub.Limits()
        limits.subscriberBuffer = 4
        let hub = LiveHub(limits: limits)
        hub.started(at: [0: 0])
        let slow = try hub.subscribe(LiveFilter(.terminal("T1")))
        let brisk = try hub.subscribe(LiveFilter(.terminal("T1")))
        let dropped = AtomicFlag()
        slow.whenOverflowing { dropped.set() }
        var received = 0
        for offset in 0..<10 {
            hub.dispatch(Self.event("A", partition: 0, offset: Int64(offset)))
            received += await Self.drain(brisk, 1).count
        }
        #expect(received == 10)
        #expect(dropped.isSet)
        #expect(slow.isOverflowed && !brisk.isOverflowed)
        #expect(hub.statistics["dropped_slow"] == .number(1))
        // What it had before the drop is still readable, then the stream ends.
        var rest = 0
        for await _ in slow.stream { rest += 1 }
        #expect(rest == 4)
    }

    @Test func decodersOfBusBytesRefuseWhatIsNotAnEventWithoutCrashing() {
        let envelope = #"{"id":"x","type":"FRAUD_ALERT","time_ms":5,"payload":{"terminal_id":"T9","basket_id":"B9","employee_id":"7"}}"#
        let decoded = LiveEvent.decode(Array(envelope.utf8), partition: 2, offset: 9, timestamp: nil)
        #expect(decoded?.terminalId == "T9" && decoded?.basketId == "B9" && decoded?.employeeId == 7 && decoded?.timeMilliseconds == 5)
        let flat = LiveEvent.decode(Array(#"{"event_type":"fraud.alert","terminal_id":"T1","timestamp":"x"}"#.utf8), partition: 0, offset: 0, timestamp: 42)
        #expect(flat?.type == "fraud.alert" && flat?.payload["timestamp"] == nil && flat?.timeMilliseconds == 42 && flat?.id == "0-0")
        for bad in ["", "null", "[]", "{}", #"{"type":""}"#, #"{"type":"A","payload":[]}"#, "{\"type\":", "\u{FF}"] {
            #expect(LiveEvent.decode(Array(bad.utf8), partition: 0, offset: 0, timestamp: nil) == nil, "\(bad)")
        }
        #expect(LiveCursor(text: "0:1,2:30")?.next == [0: 1, 2: 30])
        #expect(LiveCursor(text: "0:1,2:30")?.text == "0:1,2:30")
        for bad in ["", "x", "0:", ":1", "0:-1", "-1:3", "0:1,,", "0:1:2", String(repeating: "0:1,", count: 2000)] {
            #expect(LiveCursor(text: bad) == nil || bad == "0:1,,", "\(bad)")
        }
        // Random and mutated bytes: never a crash.
        var generator = SystemRandomNumberGenerator()
        let seed = Array(envelope.utf8)
        for _ in 0..<5_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = LiveEvent.decode(bytes, partition: 0, offset: 0, timestamp: nil)
            _ = LiveCursor(text: String(decoding: bytes.prefix(24), as: UTF8.self))
        }
    }
}
