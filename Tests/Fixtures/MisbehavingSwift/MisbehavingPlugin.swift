import PluginSDK

#if canImport(Glibc)
import Glibc
#endif

/// A test plugin in Swift that misbehaves on request, the way Swift code fails: `fatalError`,
/// a failed precondition, a runaway allocation, an infinite loop. Events carry "seq"; settings
/// name the seq that triggers each failure ("crash_always" fails on every event).
final class MisbehavingPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "misbehaving_swift",
        version: "1.0.0",
        description: "Test plugin that fails like Swift code fails",
        subscriptions: ["ITEM_ADDED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "fatal_seq": {"type": "integer"}, "precondition_seq": {"type": "integer"},
               "leak_seq": {"type": "integer"}, "hang_seq": {"type": "integer"},
               "crash_always": {"type": "boolean"}, "fatal_in_create": {"type": "boolean"}
             },
             "additionalProperties": false}
            """,
        defaultSettings: #"{"fatal_seq": -1, "precondition_seq": -1, "leak_seq": -1, "hang_seq": -1, "crash_always": false, "fatal_in_create": false}"#)

    struct Settings: Decodable {
        var fatalSeq: Int
        var preconditionSeq: Int
        var leakSeq: Int
        var hangSeq: Int
        var crashAlways: Bool
        var fatalInCreate: Bool
    }

    struct Item: Decodable { var seq: Int }

    private let settings: Settings
    private var hoard: [[UInt8]] = []

    init(settings: PluginSettings, host: PluginHost) throws {
        self.settings = try settings.decode(Settings.self)
        if self.settings.fatalInCreate { fatalError("cannot start: configured to fail in create") }
    }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        let seq = try event.decode(Item.self).seq
        if settings.crashAlways || seq == settings.fatalSeq { fatalError("event \(seq) is fatal") }
        precondition(seq != settings.preconditionSeq, "precondition failed on event \(seq)")
        if seq == settings.leakSeq {
            while true { hoard.append([UInt8](repeating: 1, count: 16 << 20)) }
        }
        if seq == settings.hangSeq {
            while true { sched_yield() }
        }
        try host.state.put("last", json: seq)
        host.count("handled")
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(MisbehavingPlugin.self, hostMajor: major, hostMinor: minor)
}
