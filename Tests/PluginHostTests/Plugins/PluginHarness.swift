import Foundation
import Testing

@testable import PluginHost

/// One of the shipped Swift plugins, loaded in-process with the host's in-memory services and a
/// manual clock far from event time (so a rule that read the wall clock would show).
final class PluginHarness {
    let store = InMemoryStateStore()
    let sink = InMemoryEventSink()
    let clock = ManualClock(milliseconds: 4_102_444_800_000)  // 2100-01-01: not event time
    let instance: InProcessPluginInstance
    let name: String
    private var sequence = 0
    static let base: Int64 = 1_795_597_200_000  // 2026-11-25T09:00:00Z

    init(_ name: String, settings: JSONValue = .object([:])) throws {
        self.name = name
        let directory = TestSupport.temporaryDirectory("plugin-\(name)")
        let path = directory + "/\(name).so"
        try FileManager.default.copyItem(atPath: TestSupport.product("lib\(name).so"), toPath: path)
        chmod(path, 0o644)
        let library = try PluginLoader.load(path: path)
        let context = PluginRuntimeContext(name: name, logger: TestSupport.quietLogger, metrics: PluginMetrics(), store: store, clock: clock)
        instance = try InProcessPluginInstance(library: library, settings: try library.effectiveSettings(settings), context: context, sink: sink)
    }

    /// Handles one event at `second` seconds after the base time; returns the outcome.
    @discardableResult
    func send(_ type: String, at second: Double, key: String = "", _ fields: [String: JSONValue]) -> HandleOutcome {
        sequence += 1
        let payload = JSONValue.object(fields).jsonText
        let event = Event(
            id: "\(type.lowercased())-\(sequence)", type: type, key: key.isEmpty ? (fields["basket_id"]?.stringValue ?? fields["terminal_id"]?.stringValue ?? "") : key,
            timeMilliseconds: Self.base + Int64(second * 1000), payload: Array(payload.utf8))
        return instance.handle([event][...], attempts: [1][...]) { false }.first!.outcome
    }

    func emitted(_ type: String) -> [JSONValue] {
        sink.events.filter { $0.type == type }.compactMap { try? JSONValue.parse($0.payload) }
    }

    func query(_ name: String, _ request: String = "{}") throws -> JSONValue {
        guard case .answer(let bytes) = instance.query(name, request: Array(request.utf8)) else { throw HostError("query \(name) failed") }
        return try JSONValue.parse(bytes)
    }

    func reconfigure(_ settings: JSONValue) throws {
        try instance.reconfigure(settings: try instance.library.effectiveSettings(settings))
    }
}

extension PluginHarness {
    /// Handles an event as the host would deliver it (decoded at the ingress).
    @discardableResult
    func deliver(_ event: Event) -> HandleOutcome {
        instance.handle([event][...], attempts: [1][...]) { false }.first!.outcome
    }
}
