import Crypto
import Foundation
import PluginABI
import PluginIPC
import Testing

@testable import PluginHost

/// The versioning promise of pos_plugin.h: a plugin built against the frozen 1.0 header loads
/// and works on this 1.1 host, a 1.1 plugin is refused by a 1.0 host with the usual message,
/// and the header carries the hash of its own text.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ABIVersioningTests {
    static let frozen = "Tests/Fixtures/abi-1.0"

    static func sha256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestSupport.packageRoot + "/" + path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    @Test func theFrozenOneZeroFilesAreUnchanged() throws {
        #expect(try Self.sha256(Self.frozen + "/pos_plugin.h") == "d89e209d4b1dbe4627f653589d830bf08ff6526d9c15563765279fd3039f4d69")
        #expect(try Self.sha256(Self.frozen + "/counter_1_0.c") == "ae3342d1772761eefcad29bf86157a5d05212f4da342c0755d6adf1504943532")
    }

    @Test func theHeaderCarriesTheHashOfItsOwnText() throws {
        let printed = try TestSupport.run("/bin/bash", [TestSupport.packageRoot + "/scripts/header-hash"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed == POS_PLUGIN_HEADER_HASH, "pos_plugin.h changed without scripts/header-hash --write")
        #expect(printed.count == 64)
    }

    @Test func aPluginBuiltAgainstTheOneZeroHeaderLoadsAndWorks() throws {
        let host = try HostProcess(label: "abi-1-0")
        // The 1.0 counter takes event_counter's place (same name), built from the frozen header.
        _ = try TestSupport.compilePlugin(Self.frozen + "/counter_1_0.c", output: host.plugins + "/event_counter.so", headers: Self.frozen)
        let inspected = try host.pluginctl("inspect", host.plugins + "/event_counter.so")
        #expect(inspected.output.contains("abi:           1.0 (host 1.1)"), "\(inspected.output)")
        #expect(inspected.output.contains("header:        not reported") && inspected.output.contains("emits:         any type"), "\(inspected.output)")
        let library = try PluginLoader.load(path: host.plugins + "/event_counter.so")
        #expect(library.manifest.abiMinor == 0 && library.manifest.emits == nil && library.manifest.eventTypes.isEmpty && library.manifest.headerHash == nil)

        try host.start()
        #expect(try host.plugin("event_counter")?.state == .running, "\(host.log)")
        host.send((1...4).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually(within: 10) {
            (try? host.pluginctl("query", "event_counter", "counts").output)?.contains(#""ITEM_ADDED":4"#) == true
        }, "\(host.log)")
        // basket_tally (a 1.1 Swift plugin) runs beside it in the same host.
        #expect(try host.plugin("basket_tally")?.state == .running)
        #expect(host.finish() == 0)
    }

    @Test func aOneOnePluginIsRefusedByAOneZeroHost() throws {
        let directory = TestSupport.temporaryDirectory("abi-refused")
        let path = try TestSupport.buildEventCounter(into: directory)
        let raw = RawDescriptor(reading: try PluginLoader.open(path: path))
        #expect(raw.abiMinor == 1 && raw.headerHash == POS_PLUGIN_HEADER_HASH)
        // The judgement a host of minor 0 makes of this very descriptor.
        let refusal = #expect(throws: PluginLoadError.self) { try PluginLoader.validate(raw, path: path, hostMinor: 0) }
        #expect(refusal?.kind == .abiMinorTooNew)
        #expect(refusal?.description.contains("needs plugin ABI 1.1 but this host provides 1.0; upgrade the host") == true, "\(String(describing: refusal))")
        #expect(throws: Never.self) { try PluginLoader.validate(raw, path: path) }
    }
}
