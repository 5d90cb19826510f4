import Foundation
import Testing

@testable import PluginHost

/// The plugin author's kit, used as a third party would: installed into a prefix outside this
/// repository (scripts/install-sdk), a plugin made by `pluginctl new`, built by its Makefile
/// with `pkg-config pos-plugin` alone, then loaded and run by a real host.
@Suite(.serialized) struct PluginKitTests {
    @Test func aPluginFromTheKitBuildsOutsideTheTreeAndRuns() throws {
        let root = TestSupport.temporaryDirectory("kit")
        let prefix = root + "/prefix", work = root + "/work"
        let installed = try TestSupport.capture("/bin/bash", [TestSupport.packageRoot + "/scripts/install-sdk", prefix])
        #expect(installed.status == 0, "\(installed.output)")
        for file in ["include/pos_plugin.h", "share/pkgconfig/pos-plugin.pc", "share/pos-plugin/plugin.exports", "share/pos-plugin/templates/c/plugin.c.in"] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file) installed")
        }
        let pkgConfig = ["PKG_CONFIG_PATH": prefix + "/share/pkgconfig"]
        let flags = try TestSupport.capture("/usr/bin/pkg-config", ["--cflags", "--libs", "pos-plugin"], environment: pkgConfig)
        #expect(flags.status == 0 && flags.output.contains("-I\(prefix)/include") && flags.output.contains("--version-script=\(prefix)/share/pos-plugin/plugin.exports"), "\(flags.output)")

        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let made = try TestSupport.capture(TestSupport.product("pluginctl"), ["new", "loyalty", "--lang", "c", "--kit", prefix + "/share/pos-plugin", "--directory", work])
        #expect(made.status == 0 && made.output.contains("loyalty.c"), "\(made.output)")
        #expect(try TestSupport.capture(TestSupport.product("pluginctl"), ["new", "loyalty", "--kit", prefix + "/share/pos-plugin", "--directory", work]).status == 65, "an existing directory is not overwritten")
        #expect(try TestSupport.capture(TestSupport.product("pluginctl"), ["new", "Bad-Name", "--kit", prefix + "/share/pos-plugin", "--directory", work]).status == 65)
        #expect(try TestSupport.capture(TestSupport.product("pluginctl"), ["new", "other", "--kit", root + "/nowhere", "--directory", work]).status == 66)

        // Only the kit: the repository's headers and scripts are nowhere on the command line.
        let built = try TestSupport.capture("/usr/bin/make", ["-C", work + "/loyalty"], environment: pkgConfig)
        #expect(built.status == 0, "\(built.output)")
        #expect(!built.output.contains(TestSupport.packageRoot), "the build used the kit only: \(built.output)")
        let symbols = try TestSupport.capture("/usr/bin/nm", ["-D", "--defined-only", work + "/loyalty/loyalty.so"])
        #expect(symbols.output.contains("pos_plugin_entry") && !symbols.output.contains("on_event"), "exports pos_plugin_entry only: \(symbols.output)")

        let host = try HostProcess(label: "kit-host")
        try FileManager.default.copyItem(atPath: work + "/loyalty/loyalty.so", toPath: host.plugins + "/loyalty.so")
        chmod(host.plugins + "/loyalty.so", 0o644)
        TestSupport.write("enabled: true\n", to: host.plugins + "/loyalty.yaml")
        try host.start()
        #expect(try host.plugin("loyalty")?.state == .running, "\(host.log)")
        host.send((1...3).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually(within: 10) { (try? host.pluginctl("query", "loyalty", "counts").output)?.contains(#""ITEM_ADDED":3"#) == true }, "\(host.log)")
        #expect(host.finish() == 0)
    }
}
