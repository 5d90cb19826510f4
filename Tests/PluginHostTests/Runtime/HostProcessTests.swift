import Foundation
import Testing

@testable import PluginHost

/// pos-host and pluginctl as real processes, talking over the control socket.
@Suite(.serialized, .timeLimit(.minutes(10))) struct HostProcessTests {
    @Test func pluginctlAdministersARunningHost() throws {
        let host = try HostProcess(label: "ctl")
        try host.start()
        host.send((0..<10).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.handled) == 10 })

        let table = try host.pluginctl("status")
        #expect(table.status == 0)
        #expect(table.output.contains("pos-host 0.1.0 (ABI 1.1)"))
        #expect(table.output.split(separator: "\n").contains { $0.hasPrefix("event_counter") && $0.contains("running") && $0.contains("1.0.0") })

        let detail = try host.pluginctl("status", "basket_tally")
        #expect(detail.output.contains("subscriptions: ITEM_ADDED, ITEM_REMOVED, PAYMENT_PROCESSED"))
        #expect(detail.output.contains("events:        10 received, 10 handled"))

        let disable = try host.pluginctl("disable", "basket_tally")
        #expect(disable.status == 0 && disable.output.contains("basket_tally disabled: stopped"))
        #expect(try host.plugin("basket_tally")?.state == .disabled)
        let file = try String(contentsOfFile: host.plugins + "/basket_tally.yaml", encoding: .utf8)
        #expect(file.hasPrefix("# tallies baskets\nenabled: false\n"))  // the comment header survives

        let enable = try host.pluginctl("enable", "basket_tally", "--json")
        #expect(enable.status == 0)
        let enabled = try JSONDecoder().decode(PluginStatus.self, from: Data(enable.output.utf8))
        #expect(enabled.state == .running && enabled.name == "basket_tally")

        let set = try host.pluginctl("config", "set", "basket_tally", "currency", "EUR")
        #expect(set.status == 0 && set.output.contains("settings applied"))
        #expect(try host.plugin("basket_tally")?.settings?["currency"] == .string("EUR"))
        #expect(try host.pluginctl("config", "get", "basket_tally", "currency").output == "EUR\n")

        let refused = try host.pluginctl("config", "set", "basket_tally", "currency", "YEN")
        #expect(refused.status == 65)
        #expect(refused.output.contains(#"basket_tally rejects these settings: /currency: must be one of "USD", "EUR", "GBP"; nothing was changed"#))
        #expect(try host.pluginctl("config", "get", "basket_tally", "currency").output == "EUR\n")

        let query = try host.pluginctl("query", "event_counter", "counts")
        #expect(query.status == 0 && query.output == #"{"ITEM_ADDED":10}"# + "\n")

        let list = try host.pluginctl("list", "--json")
        let entries = try JSONDecoder().decode([JSONValue].self, from: Data(list.output.utf8))
        #expect(entries.compactMap { $0["name"]?.stringValue } == ["basket_tally", "event_counter"])

        let unknown = try host.pluginctl("enable", "fraud_detection")
        #expect(unknown.status == 66 && unknown.output.contains("no plugin 'fraud_detection'"))
        #expect(host.finish() == 0)
    }

    @Test func pluginctlUpgradesAndRestartsWorkersAndWorkersDieWithTheHost() throws {
        let host = try HostProcess(label: "workers")
        try host.start()
        host.send((0..<10).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.handled) == 10 })
        let table = try host.pluginctl("status")
        #expect(table.output.split(separator: "\n").contains { $0.hasPrefix("event_counter") && $0.contains("healthy") })
        #expect(try host.pluginctl("status", "event_counter").output.contains("worker:        pid "))

        // A file that is another plugin is refused before anything is touched.
        let wrong = try host.pluginctl("upgrade", "event_counter", try TestSupport.buildFixture(into: host.directory))
        #expect(wrong.status == 65 && wrong.output.contains("is the plugin 'fixture', not event_counter"))
        // The same build: nothing to do.
        // (A copy in the test's directory: the build directory may sit below /tmp, which the
        // loader's trust check refuses.)
        let sameBuild = host.directory + "/basket_tally-same.so"
        try FileManager.default.copyItem(atPath: TestSupport.product("libbasket_tally.so"), toPath: sameBuild)
        chmod(sameBuild, 0o644)
        let same = try host.pluginctl("upgrade", "basket_tally", sameBuild)
        #expect(same.status == 0 && same.output.contains("basket_tally already runs this build"), "\(same.output)")
        // A new version takes over; its state (the counts) carries on.
        let next = try TestSupport.compilePlugin(
            "PluginsSrc/event_counter/event_counter.c", defines: [#"EVENT_COUNTER_VERSION="1.1.0""#], output: host.directory + "/event_counter-1.1.so")
        let upgraded = try host.pluginctl("upgrade", "event_counter", next)
        #expect(upgraded.status == 0 && upgraded.output.contains("event_counter upgraded: version 1.1.0"), "\(upgraded.output)")
        host.send((10..<15).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.pluginctl("query", "event_counter", "counts").output) == #"{"ITEM_ADDED":15}"# + "\n" })

        let restart = try host.pluginctl("restart", "event_counter")
        #expect(restart.status == 0 && restart.output.contains("event_counter restarted"))
        #expect(try host.pluginctl("restart", "nothing_here").status == 66)

        // SIGKILL leaves no time to stop workers: they must die with the host on their own.
        let workers = try host.status().plugins.compactMap { $0.worker?.pid }
        #expect(workers.count == 2)
        host.expectingFailure = true
        #expect(host.terminate(signal: SIGKILL) == SIGKILL)
        #expect(TestSupport.eventually { workers.allSatisfy { kill(pid_t($0), 0) != 0 } })
    }

    @Test func aWorkerThatBreaksTheProtocolFailsItsPluginOnlyWithAClearReason() throws {
        let host = try HostProcess(label: "bad-worker")
        // A "worker" that answers with a corrupt frame, and one that sends a wrong message.
        let corrupt = host.directory + "/corrupt-worker.sh"
        TestSupport.write("#!/bin/sh\nprintf '\\377\\377\\377\\377garbage' >&3\nsleep 5\n", to: corrupt)
        chmod(corrupt, 0o755)
        host.process.environment = ProcessInfo.processInfo.environment.merging(["POS_PLUGIN_WORKER": corrupt]) { $1 }
        TestSupport.write("# tallies baskets\nenabled: true\nisolation: inprocess\n", to: host.plugins + "/basket_tally.yaml")
        try host.start()
        let counter = try #require(try host.plugin("event_counter"))
        #expect(counter.state == .failed)
        #expect(counter.lastError?.contains("the plugin crashed while loading") == true, "\(counter.lastError ?? "")")
        // The in-process plugin is unaffected and the host serves.
        host.send((0..<5).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.plugin("basket_tally")?.metrics.handled) == 5 })
        // A file run with a plugin that never ran says so in its exit status.
        host.expectingFailure = true
        #expect(host.finish() == 70)
    }

    @Test func togglingWithPluginctlWhileEventsFlow() throws {
        let host = try HostProcess(label: "toggle")
        try host.start()
        let total = 3_000
        let producer = Thread {
            for chunk in stride(from: 0, to: total, by: 100) {
                host.send((chunk..<chunk + 100).map { HostProcess.itemAdded($0, basket: "basket_\($0 % 5)") })
                usleep(5_000)
            }
        }
        producer.start()
        for _ in 0..<3 {
            #expect(try host.pluginctl("disable", "basket_tally").status == 0)
            let receivedAtConfirmation = try #require(try host.plugin("basket_tally")).metrics.received
            usleep(50_000)
            #expect(try host.plugin("basket_tally")?.metrics.received == receivedAtConfirmation, "an event reached a disabled plugin")
            #expect(try host.pluginctl("enable", "basket_tally").status == 0)
        }
        #expect(TestSupport.eventually(within: 20) { (try? host.plugin("event_counter")?.metrics.handled) == total })
        #expect(try host.pluginctl("query", "event_counter", "counts").output == #"{"ITEM_ADDED":\#(total)}"# + "\n")
        #expect(host.finish() == 0)
    }

    @Test func handEditsAreAppliedWithinASecondAndBadEditsAreRejected() throws {
        let host = try HostProcess(label: "edit")
        try host.start()
        let started = Date()
        TestSupport.write("enabled: false\n", to: host.plugins + "/event_counter.yaml")
        #expect(TestSupport.eventually(within: 1) { (try? host.plugin("event_counter")?.state) == .disabled })
        #expect(Date().timeIntervalSince(started) < 1)

        TestSupport.write("enabled: true\nsettings:\n  currency: [USD\n", to: host.plugins + "/basket_tally.yaml")
        #expect(TestSupport.eventually { (try? host.plugin("basket_tally")?.configError) != nil })
        let broken = try #require(try host.plugin("basket_tally"))
        #expect(broken.state == .running && broken.settings?["currency"] == .string("USD"))
        #expect(broken.configError?.hasPrefix(host.plugins + "/basket_tally.yaml:") == true)
        #expect(try host.pluginctl("status").output.contains("settings file rejected"))

        TestSupport.write("enabled: true\nsettings: {currency: GBP}\n", to: host.plugins + "/basket_tally.yaml")
        #expect(TestSupport.eventually { (try? host.plugin("basket_tally")?.settings?["currency"]) == .string("GBP") })
        #expect(try host.plugin("basket_tally")?.configError == nil)
        #expect(host.finish() == 0)
    }

    @Test func sighupReloadsWhenWatchingIsOff() throws {
        let host = try HostProcess(label: "hup", extraArguments: ["--no-watch"])
        try host.start()
        TestSupport.write("enabled: false\n", to: host.plugins + "/event_counter.yaml")
        usleep(300_000)
        #expect(try host.plugin("event_counter")?.state == .running)  // not watching
        kill(host.process.processIdentifier, SIGHUP)
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.state) == .disabled })
        #expect(host.finish() == 0)
    }

    @Test func malformedInputIsDeadLetteredAndSIGTERMDrains() throws {
        let host = try HostProcess(label: "dlq")
        try host.start()
        host.send(["{not json", "[1]", HostProcess.itemAdded(1), #"{"event_type": "ITEM_ADDED", "basket_id": "b", "product_id": "X"}"#])
        #expect(TestSupport.eventually { (try? host.status().ingress.malformed) == 2 && (try? host.plugin("basket_tally")?.metrics.deadLettered) == 1 })
        #expect(host.terminate() == 0)
        let lines = try String(contentsOfFile: host.directory + "/var/dlq.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONDecoder().decode(DeadLetterRecord.self, from: Data($0.utf8)) }
        #expect(records.count == 3)
        #expect(records.contains { $0.reason == .malformed && $0.origin == "stdin:1" && $0.payload == "{not json" && $0.error.hasPrefix("not JSON") })
        #expect(records.contains { $0.reason == .malformed && $0.origin == "stdin:2" && $0.error == "not a JSON object (got array)" })
        #expect(records.contains { $0.reason == .rejected && $0.plugin == "basket_tally" && $0.error == "payload does not decode: missing field 'price'" })
        #expect(host.log.contains("pos-host: 2 events received, 2 malformed"))
    }

    @Test func refusesAnInvalidConfigAtStartupAndASecondHostOnTheSameSocket() throws {
        let bad = try HostProcess(label: "badcfg", configText: "plugins_dir: plugins.d\ndispatch:\n  lanes: lots\n")
        bad.expectingFailure = true
        try bad.process.run()
        #expect(bad.finish() == 78)
        #expect(bad.log.contains("config.yaml:3:10: 'lanes' must be a whole number"))

        let first = try HostProcess(label: "first")
        try first.start()
        let second = try TestSupport.capture(TestSupport.product("pos-host"), ["--config", first.configPath], directory: first.directory)
        #expect(second.status != 0 && second.output.contains("another pos-host is already serving"))
        #expect(first.finish() == 0)
    }

    @Test func pluginctlWithoutAHost() throws {
        let host = try HostProcess(label: "nohost")
        let edit = try host.pluginctl("disable", "event_counter")
        #expect(edit.status == 0 && edit.output.contains("pos-host is not running"))
        #expect(try String(contentsOfFile: host.plugins + "/event_counter.yaml", encoding: .utf8).contains("enabled: false"))
        let status = try host.pluginctl("status")
        #expect(status.status == 69 && status.output.contains("pos-host is not running"))
    }

    @Test func inspectDescribesPluginsAndSurvivesHostileOnes() throws {
        let directory = TestSupport.temporaryDirectory("inspect")
        let ctl = TestSupport.product("pluginctl")
        let good = try TestSupport.capture(ctl, ["inspect", "--json", try TestSupport.installBasketTally(into: directory)])
        #expect(good.status == 0)
        let manifest = try JSONDecoder().decode(PluginManifest.self, from: Data(good.output.utf8))
        #expect(manifest.name == "basket_tally" && manifest.settingsSchema != nil)

        let crash = try TestSupport.capture(ctl, ["inspect", try TestSupport.buildFixture(["FIXTURE_CRASH_ON_LOAD"], into: directory, fileName: "crash.so")])
        #expect(crash.status == 70 && crash.output.contains("the plugin crashed while loading (its worker killed by SIGSEGV"))

        let hang = try TestSupport.capture(ctl, ["inspect", "--load-timeout", "1", try TestSupport.buildFixture(["FIXTURE_HANG_ON_LOAD"], into: directory, fileName: "hang.so")])
        #expect(hang.status == 70 && hang.output.contains("loading did not finish within 1000 ms"))

        let major = try TestSupport.capture(ctl, ["inspect", try TestSupport.buildFixture(["FIXTURE_ABI_MAJOR=2", "FIXTURE_ABI_MINOR=0"], into: directory, fileName: "v2.so")])
        #expect(major.status == 65 && major.output.contains("built for plugin ABI 2.0 but this host speaks 1.1"))

        let missing = try TestSupport.capture(ctl, ["inspect", directory + "/absent.so"])
        #expect(missing.status == 66)
    }
}
