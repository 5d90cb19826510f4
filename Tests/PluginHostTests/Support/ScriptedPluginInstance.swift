import Foundation
import Synchronization

@testable import PluginHost

/// The in-memory twin of a plugin instance for dispatcher tests: it records what it was given
/// and answers from a script, with an optional gate to hold calls in flight.
final class ScriptedPluginInstance: PluginInstance, @unchecked Sendable {
    let manifest: PluginManifest
    /// Outcome for attempt n (1-based) of an event id; unscripted events are handled.
    private let script: [String: [HandleOutcome]]
    private let log = Mutex<[(id: String, key: String, attempt: Int, thread: String)]>([])
    private let active = Atomic<Int>(0)
    /// Events that reached the plugin (before the gate), i.e. were really in flight.
    let entered = Atomic<Int>(0)
    private let maxActive = Atomic<Int>(0)
    let delayMicroseconds: UInt32
    /// While set, handle() blocks on it before each event.
    let gate = NSCondition()
    private var gateClosed = false

    init(concurrentKeys: Bool = false, script: [String: [HandleOutcome]] = [:], delayMicroseconds: UInt32 = 0) {
        manifest = PluginManifest(
            name: "scripted", version: "1.0.0", description: "", abiMajor: 1, abiMinor: 0, subscriptions: ["*"], settingsSchema: nil,
            defaultSettings: .object([:]), concurrentKeys: concurrentKeys, supportsReconfigure: true, supportsQuery: false)
        self.script = script
        self.delayMicroseconds = delayMicroseconds
    }

    func closeGate() { gate.withLock { gateClosed = true } }
    func openGate() { gate.withLock { gateClosed = false; gate.broadcast() } }

    func handle(_ events: ArraySlice<Event>, attempts: ArraySlice<Int>, shouldStop: () -> Bool) -> [HandleReport] {
        var reports: [HandleReport] = []
        let now = active.add(1, ordering: .sequentiallyConsistent).newValue
        _ = maxActive.max(now, ordering: .sequentiallyConsistent)
        defer { active.subtract(1, ordering: .sequentiallyConsistent) }
        for (event, attempt) in zip(events, attempts) {
            if shouldStop() { break }
            entered.add(1, ordering: .sequentiallyConsistent)
            gate.withLock { while gateClosed { gate.wait() } }
            if delayMicroseconds > 0 { usleep(delayMicroseconds) }
            log.withLock { $0.append((event.id, event.key, attempt, String(UInt(bitPattern: Int(bitPattern: pthread_self()))))) }
            let planned = script[event.id].flatMap { attempt <= $0.count ? $0[attempt - 1] : nil } ?? .handled
            reports.append(HandleReport(outcome: planned, nanoseconds: 1_000))
            if planned != .handled { break }
        }
        return reports
    }

    func query(_ name: String, request: [UInt8]) -> QueryResult { .unknownQuery(name) }
    func reconfigure(settings: JSONValue) throws(PluginLoadError) {}
    func shutdown() {}

    var calls: [(id: String, key: String, attempt: Int, thread: String)] { log.withLock { $0 } }
    var handledIDs: [String] { calls.map(\.id) }
    var peakConcurrency: Int { maxActive.load(ordering: .sequentiallyConsistent) }
}
