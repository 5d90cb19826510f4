import Foundation
import Testing

@testable import PluginHost

@Suite struct InProcessPluginInstanceTests {
    let directory = TestSupport.temporaryDirectory("instance")
    let store = InMemoryStateStore()
    let sink = InMemoryEventSink()

    func instance(_ library: PluginLibrary, settings: JSONValue = .object([:])) throws -> InProcessPluginInstance {
        let context = PluginRuntimeContext(name: library.manifest.name, logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: store, clock: ManualClock(milliseconds: 99))
        return try InProcessPluginInstance(library: library, settings: try library.effectiveSettings(settings), context: context, sink: sink)
    }

    func handle(_ instance: InProcessPluginInstance, _ event: Event, attempt: Int = 1) -> HandleOutcome {
        instance.handle([event][...], attempts: [attempt][...]) { false }.first!.outcome
    }

    @Test func aRetryDiscardsTheCallsStateAndEmittedEvents() throws {
        let plugin = try instance(try PluginLoader.load(path: try TestSupport.buildFixture(into: directory)), settings: .object(["fail_seq": .number(1), "fail_attempts": .number(1)]))
        let event = TestSupport.event(seq: 1)
        #expect(handle(plugin, event, attempt: 1) == .retry("downstream temporarily unavailable"))
        #expect(store.entries(plugin: "fixture").isEmpty)
        #expect(sink.events.isEmpty)
        #expect(handle(plugin, event, attempt: 2) == .handled)
        #expect(store.entries(plugin: "fixture") == [Array("last:basket_1".utf8): Array("1".utf8)])
        let emitted = try #require(sink.events.first)
        #expect(emitted.type == "FIXTURE_SEEN" && emitted.key == "basket_1" && emitted.causationId == event.id && emitted.source == "plugin:fixture")
        #expect(emitted.timeMilliseconds == event.timeMilliseconds)
    }

    @Test func emittedEventIdsAreStableAcrossRedelivery() throws {
        let library = try PluginLoader.load(path: try TestSupport.buildFixture(into: directory))
        let event = TestSupport.event(seq: 4)
        #expect(handle(try instance(library), event) == .handled)
        #expect(handle(try instance(library), event) == .handled)
        #expect(sink.events.count == 2 && sink.events[0].id == sink.events[1].id)
        #expect(handle(try instance(library), TestSupport.event(seq: 5)) == .handled)
        #expect(sink.events[2].id != sink.events[0].id)
    }

    @Test func createFailureCarriesThePluginsMessage() throws {
        let library = try PluginLoader.load(path: try TestSupport.buildFixture(["FIXTURE_CREATE_FAILS"], into: directory))
        let error = try #require(throws: PluginLoadError.self) { try instance(library) }
        #expect(error.kind == .createFailed && error.reason == "create failed: cannot reach the loyalty database: password missing")
    }

    @Test func queriesReadStateAndUnknownQueriesSaySo() throws {
        let plugin = try instance(try PluginLoader.load(path: try TestSupport.buildFixture(into: directory)))
        #expect(handle(plugin, TestSupport.event(seq: 7, key: "b-7")) == .handled)
        #expect(plugin.query("last", request: Array("b-7".utf8)) == .answer(Array("7".utf8)))
        #expect(plugin.query("totals", request: []) == .unknownQuery("only 'last' is known"))
    }

    @Test func theSwiftSDKMapsDecodingErrorsToPoisonAndKeepsState() throws {
        let library = try PluginLoader.load(path: try TestSupport.installBasketTally(into: directory))
        let plugin = try instance(library, settings: .object(["large_basket_threshold": .number(10)]))
        func event(_ type: String, _ payload: String, seq: Int) -> Event {
            Event(id: "e\(seq)", type: type, key: "b1", timeMilliseconds: Int64(seq), payload: Array(payload.utf8))
        }
        #expect(handle(plugin, event("ITEM_ADDED", #"{"basket_id": "b1", "product_id": "BEER", "quantity": 2, "price": 4.99}"#, seq: 1)) == .handled)
        #expect(handle(plugin, event("ITEM_ADDED", #"{"basket_id": "b1", "product_id": "WINE", "price": 12.99}"#, seq: 2)) == .handled)
        #expect(handle(plugin, event("ITEM_REMOVED", #"{"basket_id": "b1", "product_id": "BEER", "quantity": 1, "price": 4.99}"#, seq: 3)) == .handled)
        #expect(handle(plugin, event("ITEM_ADDED", #"{"basket_id": "b1", "quantity": 1}"#, seq: 4)) == .reject("payload does not decode: missing field 'product_id'"))
        #expect(handle(plugin, event("ITEM_ADDED", #"{"basket_id": "b1", "product_id": "X", "price": -1}"#, seq: 5)) == .reject("negative price -1.0 for X"))
        #expect(plugin.query("basket", request: Array(#"{"basket_id": "b1"}"#.utf8)) == .answer(Array(#"{"items":2,"total_cents":1798}"#.utf8)))
        #expect(handle(plugin, event("PAYMENT_PROCESSED", #"{"basket_id": "b1"}"#, seq: 6)) == .handled)
        let totalled = try #require(sink.events.last)
        #expect(totalled.type == "BASKET_TOTALLED")
        #expect(try JSONValue.parse(totalled.payload) == .object(["basket_id": .string("b1"), "items": .number(2), "total": .number(17.98), "currency": .string("USD"), "large": .bool(true)]))
        #expect(store.entries(plugin: "basket_tally").isEmpty)  // cleared after payment
    }

    @Test func reconfigureAppliesNewSettingsLive() throws {
        let library = try PluginLoader.load(path: try TestSupport.installBasketTally(into: directory))
        let plugin = try instance(library)
        try plugin.reconfigure(settings: try library.effectiveSettings(.object(["currency": .string("EUR")])))
        #expect(handle(plugin, Event(id: "p", type: "PAYMENT_PROCESSED", key: "b", timeMilliseconds: 0, payload: Array(#"{"basket_id": "b"}"#.utf8))) == .handled)
        #expect(try JSONValue.parse(sink.events.last!.payload)["currency"] == .string("EUR"))
    }
}
