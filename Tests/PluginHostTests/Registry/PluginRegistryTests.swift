import Foundation
import Testing

@testable import PluginHost

/// The registry against real plugin files and real settings files on disk.
@Suite struct PluginRegistryTests {
    let directory = TestSupport.temporaryDirectory("registry")
    let settlements = SettlementLog()
    let deadLetters = InMemoryDeadLetterSink()

    func runtime() throws -> HostRuntime {
        TestSupport.write("plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndispatch: {backoff_initial_ms: 1, backoff_max_ms: 2, max_attempts: 3}\n", to: directory + "/config.yaml")
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true)
        chmod(directory + "/plugins.d", 0o755)
        let log = settlements
        return try HostRuntime(
            configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, emitted: InMemoryEventSink(),
            deadLetters: deadLetters, onSettled: { log.record($0, $1, $2) })
    }

    var plugins: String { directory + "/plugins.d" }

    func state(_ runtime: HostRuntime, _ name: String) -> PluginStatus? { runtime.status().plugins.first { $0.name == name } }

    @Test func startsStopsAndReconfiguresOnlyWhatChanged() throws {
        let host = try runtime()
        try TestSupport.buildEventCounter(into: plugins)
        try TestSupport.installBasketTally(into: plugins)
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        TestSupport.write("enabled: true\nsettings: {currency: GBP}\n", to: plugins + "/basket_tally.yaml")
        let first = host.reload(trigger: "test")
        #expect(first.changes.map(\.action) == [.started, .started])
        #expect(state(host, "basket_tally")?.settings?["currency"] == .string("GBP"))

        TestSupport.write("enabled: true\nsettings: {currency: EUR}\n", to: plugins + "/basket_tally.yaml")
        let second = host.reload(trigger: "test")
        #expect(second.changes == [PluginChange(plugin: "basket_tally", action: .reconfigured), PluginChange(plugin: "event_counter", action: .unchanged)])
        #expect(state(host, "basket_tally")?.settings?["currency"] == .string("EUR"))

        TestSupport.write("enabled: false\n", to: plugins + "/event_counter.yaml")
        #expect(host.reload(trigger: "test").changes.first { $0.plugin == "event_counter" }?.action == .stopped)
        #expect(state(host, "event_counter")?.state == .disabled)
        host.shutdown(drain: false)
    }

    @Test func anInvalidEditKeepsTheLastGoodSettingsRunning() throws {
        let host = try runtime()
        try TestSupport.installBasketTally(into: plugins)
        TestSupport.write("enabled: true\nsettings: {currency: GBP}\n", to: plugins + "/basket_tally.yaml")
        _ = host.reload(trigger: "test")

        TestSupport.write("enabled: true\nsettings: {currency: GBP\n", to: plugins + "/basket_tally.yaml")  // broken YAML
        let broken = host.reload(trigger: "test")
        #expect(broken.errors.count == 1 && broken.errors[0].hasPrefix(plugins + "/basket_tally.yaml:"))
        #expect(state(host, "basket_tally")?.state == .running)
        #expect(state(host, "basket_tally")?.configError?.contains("invalid YAML") == true)
        #expect(host.status().configErrors == broken.errors)

        TestSupport.write("enabled: true\nsettings: {currency: YEN}\n", to: plugins + "/basket_tally.yaml")  // rejected by the schema
        let rejected = host.reload(trigger: "test")
        #expect(rejected.changes.first?.action == .failed)
        #expect(state(host, "basket_tally")?.settings?["currency"] == .string("GBP"))
        #expect(state(host, "basket_tally")?.lastError?.contains(#"/currency: must be one of "USD", "EUR", "GBP""#) == true)

        TestSupport.write("enabled: true\nsettings: {currency: EUR}\n", to: plugins + "/basket_tally.yaml")
        let fixed = host.reload(trigger: "test")
        #expect(fixed.errors.isEmpty && state(host, "basket_tally")?.configError == nil && state(host, "basket_tally")?.lastError == nil)
        #expect(state(host, "basket_tally")?.settings?["currency"] == .string("EUR"))
        host.shutdown(drain: false)
    }

    @Test func aBrokenPluginNeverStopsTheOthers() throws {
        let host = try runtime()
        try TestSupport.buildEventCounter(into: plugins)
        try TestSupport.buildFixture(["FIXTURE_CREATE_FAILS"], into: plugins, fileName: "fixture.so")
        TestSupport.write("this is not ELF", to: plugins + "/junk.so")
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/fixture.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/junk.yaml")
        TestSupport.write("enabled: true\nlibrary: event_counter.so\n", to: plugins + "/impostor.yaml")
        let report = host.reload(trigger: "test")
        #expect(state(host, "event_counter")?.state == .running)
        #expect(state(host, "fixture")?.state == .failed)
        #expect(state(host, "fixture")?.lastError?.hasSuffix("create failed: cannot reach the loyalty database: password missing") == true)
        #expect(state(host, "junk")?.lastError?.contains("not an ELF shared object") == true)
        #expect(state(host, "impostor")?.lastError?.contains("names the plugin 'event_counter' but its settings file is impostor.yaml") == true)
        #expect(report.changes.filter { $0.action == .failed }.count == 3)

        host.ingest(.event(TestSupport.event(seq: 1)))
        host.drain()
        #expect(state(host, "event_counter")?.metrics.handled == 1)
        host.shutdown(drain: false)
    }

    @Test func retriesThenDeadLettersThroughARealPlugin() throws {
        let host = try runtime()
        try TestSupport.buildFixture(into: plugins)
        TestSupport.write("enabled: true\nsettings: {fail_seq: 2, fail_attempts: 99, reject_seq: 3}\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")
        for seq in 1...4 { host.ingest(.event(TestSupport.event(seq: seq))) }
        host.drain()
        let metrics = try #require(state(host, "fixture")?.metrics)
        #expect(metrics.handled == 2 && metrics.retried == 2 && metrics.deadLettered == 2)
        let records = deadLetters.records.sorted { $0.eventId! < $1.eventId! }
        #expect(records.map(\.reason) == [.retriesExhausted, .rejected])
        #expect(records[0].attempts == 3 && records[0].error == "downstream temporarily unavailable")
        #expect(records[1].attempts == 1 && records[1].error == "seq is configured as poison")
        host.shutdown(drain: false)
    }

    @Test func togglingWhileEventsFlowLosesNothingAndDeliversNothingAfterTheConfirmation() throws {
        let host = try runtime()
        try TestSupport.buildEventCounter(into: plugins)
        try TestSupport.buildFixture(into: plugins)
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        TestSupport.write("enabled: true\nsettings: {sleep_us: 20}\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")

        let total = 6_000
        let producerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for seq in 0..<total { host.ingest(.event(TestSupport.event(seq: seq, key: "basket_\(seq % 7)"))) }
            producerDone.signal()
        }
        var confirmedAt: [Int] = []  // settlements logged when each disable was confirmed
        for round in 0..<3 {
            usleep(30_000)
            TestSupport.write("enabled: false\n", to: plugins + "/fixture.yaml")
            _ = host.reload(trigger: "disable \(round)")
            confirmedAt.append(settlements.all.count)
            let handledBefore = settlements.count("fixture", .handled)
            usleep(30_000)
            #expect(settlements.count("fixture", .handled) == handledBefore, "delivered to fixture after it was disabled")
            TestSupport.write("enabled: true\nsettings: {sleep_us: 20}\n", to: plugins + "/fixture.yaml")
            _ = host.reload(trigger: "enable \(round)")
        }
        producerDone.wait()
        host.drain()
        // The plugin that stayed on saw every event exactly once.
        let counter = try #require(state(host, "event_counter"))
        #expect(counter.metrics.handled == total && counter.metrics.abandoned == 0)
        #expect(host.registry.query(plugin: "event_counter", name: "counts", request: []) == .answer(Array(#"{"ITEM_ADDED":\#(total)}"#.utf8)))
        // The toggled one handled some, and reported every other one as abandoned or never received.
        let fixture = try #require(state(host, "fixture"))
        #expect(fixture.metrics.handled > 0 && fixture.metrics.handled < total)
        #expect(fixture.metrics.counters["order_violations"] == nil)
        host.shutdown(drain: false)
    }
}
