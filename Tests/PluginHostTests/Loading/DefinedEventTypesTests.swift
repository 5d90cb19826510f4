import Foundation
import PluginABI
import PluginIPC
import Testing

@testable import PluginHost

/// ABI 1.1 event types a plugin defines, and the field access that lets a C plugin read a
/// payload without a JSON parser: with the kit's C template built as its author would.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DefinedEventTypesTests {
    let directory = TestSupport.temporaryDirectory("defined-types")

    /// The kit's C template as `pluginctl new NAME` writes it, built against the header.
    func template(name: String, type: String, into directory: String? = nil) throws -> String {
        let source = try String(contentsOfFile: TestSupport.packageRoot + "/kit/templates/c/plugin.c.in", encoding: .utf8)
            .replacingOccurrences(of: "@NAME@", with: name).replacingOccurrences(of: "@TYPE@", with: type)
        let folder = directory ?? self.directory
        TestSupport.write(source, to: folder + "/\(name).c")
        return try TestSupport.compilePlugin(folder + "/\(name).c", output: folder + "/\(name).so")
    }

    func payment(_ payload: String, seq: Int = 1) -> Event {
        Event(id: "pay-\(seq)", type: "PAYMENT_PROCESSED", key: "b\(seq)", timeMilliseconds: 1_795_597_200_000, payload: Array(payload.utf8))
    }

    @Test func aDefinedTypeIsInTheManifestAndCountsAsEmitted() throws {
        let library = try PluginLoader.load(path: try template(name: "loyalty", type: "LOYALTY"))
        let defined = try #require(library.manifest.eventTypes.first)
        #expect(defined.name == "LOYALTY_POINTS_AWARDED" && defined.description == "Loyalty points were awarded for a paid basket")
        #expect(defined.payloadSchema?["required"] == .array([.string("basket_id"), .string("points")]))
        #expect(library.manifest.emits == ["LOYALTY_POINTS_AWARDED"], "the empty emits list gains the defined type")
        #expect(library.manifest.headerHash == POS_PLUGIN_HEADER_HASH)
    }

    @Test func fieldAccessAndTheJSONWriterInProcess() throws {
        let library = try PluginLoader.load(path: try template(name: "loyalty", type: "LOYALTY"))
        let registry = EventTypeRegistry()
        try registry.define(library.manifest.eventTypes, for: "loyalty")
        let sink = InMemoryEventSink()
        let context = PluginRuntimeContext(
            name: "loyalty", logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: ManualClock(milliseconds: 1),
            eventTypes: registry)
        let instance = try InProcessPluginInstance(library: library, settings: try library.effectiveSettings(.object([:])), context: context, sink: sink)
        func handle(_ event: Event) -> HandleOutcome { instance.handle([event][...], attempts: [1][...]) { false }.first!.outcome }

        // A basket id with an escaped quote and a non-ASCII letter: unescaped by the host, escaped
        // again by pos_json_object.
        #expect(handle(payment(#"{"amount":12.99,"basket_id":"b\"1é","payment_method":"cash"}"#)) == .handled)
        let emitted = try #require(sink.events.first)
        #expect(emitted.type == "LOYALTY_POINTS_AWARDED" && emitted.source == "plugin:loyalty")
        #expect(try JSONValue.parse(emitted.payload) == .object(["basket_id": .string("b\"1é"), "points": .number(12)]))
        #expect(handle(payment(#"{"basket_id":"b2","payment_method":"cash"}"#, seq: 2)) == .reject("PAYMENT_PROCESSED without a non-negative amount"))
        #expect(handle(payment(#"{"amount":"12","basket_id":"b3"}"#, seq: 3)) == .reject("PAYMENT_PROCESSED without a non-negative amount"), "a string is not a number")
        #expect(sink.events.count == 1)
        instance.shutdown()
    }

    @Test func anEmitThatBreaksTheSchemaIsRefusedByEmitItself() throws {
        let registry = EventTypeRegistry()
        let schema = try JSONValue.parse(#"{"type":"object","required":["points"],"properties":{"points":{"type":"integer","minimum":0}}}"#)
        try registry.define([EventTypeDeclaration(name: "LOYALTY_POINTS_AWARDED", description: "points", payloadSchema: schema)], for: "loyalty")
        let context = PluginRuntimeContext(
            name: "loyalty", logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: InMemoryStateStore(), clock: ManualClock(milliseconds: 1),
            eventTypes: registry)
        let call = PluginCall(kind: .handleEvent, context: context, event: payment("{}"))
        #expect(throws: Never.self) { try call.emit(type: "LOYALTY_POINTS_AWARDED", key: "", payload: Array(#"{"points":3}"#.utf8)) }
        do {
            try call.emit(type: "LOYALTY_POINTS_AWARDED", key: "", payload: Array(#"{"points":-3}"#.utf8))
            Issue.record("a negative points value was accepted")
        } catch {
            #expect(error.description.contains("does not satisfy its schema"), "\(error)")
        }
        #expect(call.emitted.count == 1)
    }

    @Test func theIngressAcceptsDefinedTypesHeldToTheirSchemas() throws {
        let registry = EventTypeRegistry()
        let schema = try JSONValue.parse(#"{"type":"object","required":["points"],"properties":{"points":{"type":"integer"}}}"#)
        try registry.define([EventTypeDeclaration(name: "LOYALTY_POINTS_AWARDED", description: "points", payloadSchema: schema)], for: "loyalty")
        let decoder = EventDecoder(maxEventBytes: 1 << 16, clock: ManualClock(milliseconds: 1), definedTypes: registry)
        let good = Array(#"{"type":"LOYALTY_POINTS_AWARDED","id":"x1","time_ms":5,"key":"b1","payload":{"points":4}}"#.utf8)
        #expect(try decoder.decode(good).type == "LOYALTY_POINTS_AWARDED")
        #expect(throws: EventRejection.self) { try decoder.decode(Array(#"{"type":"LOYALTY_POINTS_AWARDED","id":"x2","time_ms":5,"key":"b1","payload":{"points":"many"}}"#.utf8)) }
        #expect(throws: EventRejection.self) { try decoder.decode(Array(#"{"type":"LOYALTY_BONUS","id":"x3","time_ms":5,"key":"b1","payload":{}}"#.utf8)) }
        registry.forget(plugin: "loyalty")
        #expect(throws: EventRejection.self) { try decoder.decode(good) }
    }

    @Test func namesAreCheckedAgainstTheCatalogAndOtherPlugins() throws {
        let path = try template(name: "loyalty", type: "LOYALTY")
        var raw = RawDescriptor(reading: try PluginLoader.open(path: path))
        func refusal(_ types: [RawDescriptor.DeclaredEventType]) -> String? {
            raw.eventTypes = types
            do { _ = try PluginLoader.validate(raw, path: path) } catch { return error.description }
            return nil
        }
        #expect(refusal([.init(name: "ITEM_ADDED", description: "mine", payloadSchema: nil)])?.contains("already the catalog's ITEM_ADDED") == true)
        #expect(refusal([.init(name: "item.added", description: "an alias", payloadSchema: nil)])?.contains("must be 1-64 characters") == true)
        #expect(refusal([.init(name: "LOYALTY_X", description: " ", payloadSchema: nil)])?.contains("has no description") == true)
        #expect(refusal([.init(name: "LOYALTY_X", description: "x", payloadSchema: "{\"type\": 7}")])?.contains("payload_schema of LOYALTY_X") == true)
        #expect(refusal([.init(name: "LOYALTY_X", description: "x", payloadSchema: nil), .init(name: "LOYALTY_X", description: "y", payloadSchema: nil)])?.contains("defined twice") == true)
        #expect(refusal([.init(name: nil, description: nil, payloadSchema: nil)])?.contains("has no name") == true)
        #expect(refusal([.init(name: "LOYALTY_X", description: "x", payloadSchema: nil)]) == nil)

        let registry = EventTypeRegistry()
        let type = EventTypeDeclaration(name: "LOYALTY_X", description: "x", payloadSchema: nil)
        try registry.define([type], for: "loyalty")
        #expect(throws: EventTypeRegistry.Conflict.self) { try registry.define([type], for: "other") }
        try registry.define([type], for: "loyalty")  // a restart of the owner is no conflict
        #expect(registry.all.map(\.plugin) == ["loyalty"])
    }

    @Test func aSecondPluginDefiningTheSameTypeIsRefusedAtStart() throws {
        let host = try HostProcess(label: "type-conflict")
        _ = try template(name: "loyalty", type: "LOYALTY", into: host.plugins)
        _ = try template(name: "loyalty_copy", type: "LOYALTY", into: host.plugins)
        for name in ["loyalty", "loyalty_copy"] {
            try? FileManager.default.removeItem(atPath: host.plugins + "/\(name).c")
            TestSupport.write("enabled: true\n", to: host.plugins + "/\(name).yaml")
        }
        try host.start()
        #expect(try host.plugin("loyalty")?.state == .running, "\(host.log)")
        let copy = try #require(try host.plugin("loyalty_copy"))
        #expect(copy.state == .failed)
        #expect(copy.lastError?.contains("event type LOYALTY_POINTS_AWARDED is already defined by the plugin loyalty") == true, "\(copy.lastError ?? "")")
        host.expectingFailure = true
        #expect(host.finish() == 70, "an enabled plugin failed to start")
    }

    // MARK: - Field access over payload bytes

    func field(_ payload: String, _ path: String) -> (PayloadFields.Slice?, [UInt8]) {
        let bytes = Array(payload.utf8)
        let slice = bytes.withUnsafeBufferPointer { payload in
            Array(path.utf8).withUnsafeBufferPointer { PayloadFields.find(payload, path: $0) }
        }
        return (slice, bytes)
    }

    func string(_ payload: String, _ path: String) -> String? {
        let (slice, bytes) = field(payload, path)
        guard let slice else { return nil }
        return bytes.withUnsafeBufferPointer { PayloadFields.string($0, slice) }.map { String(decoding: $0, as: UTF8.self) }
    }

    func number(_ payload: String, _ path: String) -> (Int64?, Double?) {
        let (slice, bytes) = field(payload, path)
        guard let slice else { return (nil, nil) }
        return bytes.withUnsafeBufferPointer { (PayloadFields.int64($0, slice), PayloadFields.double($0, slice)) }
    }

    @Test func pathsFindNestedMembersAndElements() {
        let payload = #"{"basket_id":"b1","items":[{"sku":"BEER","qty":2},{"sku":"W\u00e9\ud83d\ude00","qty":1.5}],"paid":true,"note":null,"a.b":1,"e":{}}"#
        #expect(string(payload, "basket_id") == "b1")
        #expect(string(payload, "items.0.sku") == "BEER")
        #expect(string(payload, "items.1.sku") == "Wé😀", "\\u escapes and surrogate pairs")
        #expect(number(payload, "items.0.qty") == (2, 2))
        #expect(number(payload, "items.1.qty") == (nil, 1.5), "not a whole number")
        #expect(field(payload, "items.2.sku").0 == nil && field(payload, "items.x").0 == nil && field(payload, "missing").0 == nil)
        #expect(field(payload, "paid").0?.kind == .bool && field(payload, "note").0?.kind == .null)
        #expect(field(payload, "a.b").0 == nil, "a member name with a dot cannot be addressed")
        #expect(string(payload, "items") == nil, "an array is not a string")
        let (items, bytes) = field(payload, "items")
        #expect(bytes.withUnsafeBufferPointer { PayloadFields.length($0, items!) } == 2)
        let (empty, emptyBytes) = field(payload, "e")
        #expect(emptyBytes.withUnsafeBufferPointer { PayloadFields.length($0, empty!) } == 0)
        #expect(field(payload, "").0?.kind == .object)
        #expect(number(#"{"n":-9223372036854775808,"big":1e300,"exp":1e3}"#, "n").0 == Int64.min)
        #expect(number(#"{"big":1e300}"#, "big").0 == nil && number(#"{"exp":1e3}"#, "exp").0 == 1000)
    }

    @Test func truncatedOrHostilePayloadsNeverCrashTheScanner() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,\ abtrue0-9.e"#.utf8)
        let base = Array(#"{"a":{"b":[1,"x\"y",{"c":true}]},"d":null}"#.utf8)
        for cut in 0...base.count {
            _ = field(String(decoding: base[..<cut], as: UTF8.self), "a.b.2.c")
        }
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let (slice, payload) = field(String(decoding: bytes, as: UTF8.self), "a.0")
            if let slice {
                #expect(slice.range.upperBound <= payload.count)
                _ = payload.withUnsafeBufferPointer { (PayloadFields.string($0, slice), PayloadFields.length($0, slice)) }
            }
        }
    }
}
