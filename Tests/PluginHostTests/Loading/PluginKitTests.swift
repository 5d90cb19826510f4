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

        // On Kafka with the default unknown_types: reject: the type the plugin defines goes out
        // to the topic, comes back through the ingress, and event_counter (subscribed to every
        // type) takes it, as it would any catalog type.
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        defer { cluster.close() }
        let host = try HostProcess.onKafka(label: "kit-host", bootstrap: cluster.bootstrapServers)
        try FileManager.default.copyItem(atPath: work + "/loyalty/loyalty.so", toPath: host.plugins + "/loyalty.so")
        chmod(host.plugins + "/loyalty.so", 0o644)
        TestSupport.write("enabled: true\n", to: host.plugins + "/loyalty.yaml")
        let inspected = try host.pluginctl("inspect", host.plugins + "/loyalty.so")
        #expect(inspected.output.contains("defines:       LOYALTY_POINTS_AWARDED: Loyalty points were awarded for a paid basket"), "\(inspected.output)")
        #expect(inspected.output.contains("(the host's own pos_plugin.h)") && inspected.output.contains("create was not called"), "\(inspected.output)")
        try host.start()
        #expect(try host.plugin("loyalty")?.state == .running, "\(host.log)")
        let events = try host.pluginctl("events")
        #expect(events.status == 0 && events.output.contains("LOYALTY_POINTS_AWARDED") && events.output.contains("plugin:loyalty"), "\(events.output)")
        #expect(events.output.contains("ITEM_ADDED") && events.output.contains("catalog"))

        func payment(_ index: Int, amount: String) -> (key: String, line: String) {
            ("b\(index)", #"{"event_type": "PAYMENT_PROCESSED", "timestamp": "2026-11-25T09:00:0\#(index)Z", "event_id": "pay-\#(index)", "basket_id": "b\#(index)", "amount": \#(amount), "payment_method": "cash"}"#)
        }
        // A hostile producer's LOYALTY_POINTS_AWARDED that breaks the schema is refused at ingress.
        let forged = (key: "b9", line: #"{"type": "LOYALTY_POINTS_AWARDED", "id": "forged-1", "time_ms": 1795597200000, "key": "b9", "payload": {"basket_id": "b9", "points": -5}}"#)
        try KafkaEndToEndTests.produce([payment(1, amount: "12.50"), payment(2, amount: "3"), payment(3, amount: "0.99"), forged], to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) {
            (try? host.pluginctl("query", "event_counter", "counts").output)?.contains(#""LOYALTY_POINTS_AWARDED":3"#) == true
        }, "\(host.log)")
        #expect(TestSupport.eventually(within: 10) { (try? host.pluginctl("query", "loyalty", "counts").output)?.contains(#""PAYMENT_PROCESSED":3"#) == true }, "\(host.log)")
        let awarded = try KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events", atLeast: 10)
            .filter { $0.headers["pos.type"] == Array("LOYALTY_POINTS_AWARDED".utf8) && $0.headers["pos.source"] == Array("plugin:loyalty".utf8) }
        let points = try awarded.map { try JSONValue.parse($0.value)["payload"]?["points"]?.exactInteger }.sorted { ($0 ?? -1) < ($1 ?? -1) }
        #expect(points == [0, 3, 12], "one point per whole dollar, read with field access: \(points)")
        let dead = try KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events.dlq", atLeast: 1)
        #expect(dead.count == 1, "only the forged event is dead-lettered")
        let reason = String(decoding: dead.first?.headers["dlq.error"] ?? [], as: UTF8.self)
        #expect(reason.contains("does not satisfy its schema"), "\(reason)")
        #expect(dead.first?.key == Array("b9".utf8), "the dead letter keeps the event's key")
        #expect(host.terminate() == 0)
    }

    /// The same from the Swift template: a package outside the repository that depends on the
    /// kit's pos-plugin-sdk by path, built with `swift build`, over Kafka with the default
    /// unknown_types: reject, and another plugin consuming the type it defines.
    @Test func aSwiftPluginFromTheKitBuildsOutsideTheTreeAndRuns() throws {
        let root = TestSupport.temporaryDirectory("kit-swift")
        let prefix = root + "/prefix", work = root + "/work"
        #expect(try TestSupport.capture("/bin/bash", [TestSupport.packageRoot + "/scripts/install-sdk", prefix]).status == 0)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let made = try TestSupport.capture(TestSupport.product("pluginctl"), ["new", "points", "--lang", "swift", "--kit", prefix + "/share/pos-plugin", "--directory", work])
        #expect(made.status == 0 && made.output.contains("Package.swift"), "\(made.output)")
        let manifest = try String(contentsOfFile: work + "/points/Package.swift", encoding: .utf8)
        #expect(!manifest.contains(TestSupport.packageRoot) && manifest.contains(prefix + "/share/pos-plugin/pos-plugin-sdk"), "\(manifest)")
        let built = try TestSupport.capture("/usr/bin/env", ["swift", "build", "-c", "release", "--package-path", work + "/points"])
        #expect(built.status == 0, "\(built.output.suffix(3000))")
        let library = work + "/points/.build/release/libpoints.so"

        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3), ("pos-events.dlq", 1)])
        defer { cluster.close() }
        let host = try HostProcess.onKafka(label: "kit-swift-host", bootstrap: cluster.bootstrapServers)
        try FileManager.default.copyItem(atPath: library, toPath: host.plugins + "/points.so")
        chmod(host.plugins + "/points.so", 0o644)
        TestSupport.write("enabled: true\n", to: host.plugins + "/points.yaml")
        let inspected = try host.pluginctl("inspect", host.plugins + "/points.so")
        #expect(inspected.output.contains("defines:       POINTS_POINTS_AWARDED") && inspected.output.contains("(the host's own pos_plugin.h)"), "\(inspected.output)")
        try host.start()
        #expect(try host.plugin("points")?.state == .running, "\(host.log)")
        let payments = (1...3).map { index in
            ("b\(index)", #"{"event_type": "PAYMENT_PROCESSED", "timestamp": "2026-11-25T09:00:0\#(index)Z", "event_id": "pay-\#(index)", "basket_id": "b\#(index)", "amount": \#(index * 5).5, "payment_method": "cash"}"#)
        }
        try KafkaEndToEndTests.produce(payments, to: cluster.bootstrapServers)
        #expect(TestSupport.eventually(within: 20) {
            (try? host.pluginctl("query", "event_counter", "counts").output)?.contains(#""POINTS_POINTS_AWARDED":3"#) == true
        }, "\(host.log)")
        #expect(TestSupport.eventually(within: 10) { (try? host.pluginctl("query", "points", "counts").output)?.contains(#""PAYMENT_PROCESSED":3"#) == true })
        var points: [Int64] = []
        _ = TestSupport.eventually(within: 20) {
            // 3 payments, 3 BASKET_TOTALLED from basket_tally, 3 awards.
            let awarded = ((try? KafkaEndToEndTests.readAll(cluster.bootstrapServers, topic: "pos-events", atLeast: 9)) ?? [])
                .filter { $0.headers["pos.type"] == Array("POINTS_POINTS_AWARDED".utf8) }
            points = awarded.map { (try? JSONValue.parse($0.value))?["payload"]?["points"]?.exactInteger ?? -1 }.sorted()
            return points.count >= 3
        }
        #expect(points == [5, 10, 15], "read with field access: \(points)")
        #expect(host.terminate() == 0)
    }
}
