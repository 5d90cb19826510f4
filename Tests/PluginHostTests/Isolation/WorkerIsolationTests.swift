import Foundation
import Testing

@testable import PluginHost

/// Plugins in worker processes, misbehaving in every way a native plugin can, next to a healthy
/// plugin: real `.so` files, real worker processes, real signals.
@Suite(.serialized, .timeLimit(.minutes(10))) struct WorkerIsolationTests {
    let directory = TestSupport.temporaryDirectory("isolation")
    let settlements = SettlementLog()
    let deadLetters = InMemoryDeadLetterSink()
    let emitted = InMemoryEventSink()

    var plugins: String { directory + "/plugins.d" }

    func runtime(supervision: String = "{deadline_ms: 300, restart_backoff_initial_ms: 1, restart_backoff_max_ms: 5}") throws -> HostRuntime {
        TestSupport.write(
            "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndispatch: {backoff_initial_ms: 1, backoff_max_ms: 2, max_attempts: 3}\nsupervision: \(supervision)\n",
            to: directory + "/config.yaml")
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        chmod(plugins, 0o755)
        let log = settlements
        return try HostRuntime(
            configPath: directory + "/config.yaml", baseDirectory: directory, logger: TestSupport.quietLogger, emitted: emitted,
            deadLetters: deadLetters, onSettled: { log.record($0, $1, $2) })
    }

    func status(_ host: HostRuntime, _ name: String) -> PluginStatus? { host.status().plugins.first { $0.name == name } }

    /// Sends seq 1...count for one basket and waits until every running plugin settled them.
    func send(_ host: HostRuntime, _ range: ClosedRange<Int>, key: String = "basket_1") {
        for seq in range { host.registry.route(TestSupport.event(seq: seq, key: key)) }
        host.drain()
    }

    enum Misbehaviour: String, CaseIterable, Sendable {
        case segfault = "segfault_seq", abort = "abort_seq", exit = "exit_seq", hang = "hang_seq", leak = "leak_seq"
        var expected: String {
            switch self {
            case .segfault: "killed by SIGSEGV"
            case .abort: "killed by SIGABRT"
            case .exit: "exited with status 3"
            case .hang: "deadline of 300 ms exceeded while handling event event-basket_1-7"
            case .leak: "killed by SIGABRT"  // malloc fails at the address-space limit; the plugin aborts
            }
        }
    }

    @Test(arguments: Misbehaviour.allCases)
    func aCPluginFailingOnOneEventCostsOnlyThatEvent(_ misbehaviour: Misbehaviour) throws {
        let host = try runtime()
        try TestSupport.buildFixture(into: plugins)
        try TestSupport.buildEventCounter(into: plugins)
        // Filling 256 MB takes longer than the short deadline used for the hang.
        let deadline = misbehaviour == .leak ? 10_000 : 300
        TestSupport.write(
            "enabled: true\nsupervision: {memory_limit_mb: 256, deadline_ms: \(deadline)}\nsettings: {\(misbehaviour.rawValue): 7}\n", to: plugins + "/fixture.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        #expect(host.reload(trigger: "test").changes.map(\.action) == [.started, .started])
        send(host, 1...20)

        // The healthy plugin saw everything; the bad one everything but the poison event.
        #expect(settlements.count("event_counter", .handled) == 20)
        #expect(settlements.count("fixture", .handled) == 19)
        let letters = deadLetters.records
        #expect(letters.count == 1)
        let letter = try #require(letters.first)
        #expect(letter.plugin == "fixture" && letter.eventId == "event-basket_1-7" && letter.attempts == 3)
        #expect(letter.error.contains(misbehaviour.expected), "\(letter.error)")
        // The events after the poison one were handled on the host's state, in order.
        #expect(host.registry.query(plugin: "fixture", name: "last", request: Array("basket_1".utf8)) == .answer(Array("20".utf8)))
        #expect(emitted.events.filter { $0.source == "plugin:fixture" }.count == 19)

        let worker = try #require(status(host, "fixture")?.worker)
        // Three attempts, plus one more crash when the first came in a batch whose results had
        // not been sent yet (the worker then replays events one at a time to name the culprit).
        #expect((3...4).contains(worker.crashes) && worker.restarts == worker.crashes && worker.health == .degraded, "\(worker)")
        #expect(worker.lastCrash?.contains(misbehaviour.expected) == true)
        #expect(status(host, "fixture")?.state == .running)
        host.shutdown(drain: false)
    }

    enum SwiftMisbehaviour: String, CaseIterable, Sendable {
        case fatalError = "fatal_seq", precondition = "precondition_seq", leak = "leak_seq", hang = "hang_seq"
    }

    @Test(arguments: SwiftMisbehaviour.allCases)
    func aSwiftPluginFailingOnOneEventCostsOnlyThatEvent(_ misbehaviour: SwiftMisbehaviour) throws {
        let host = try runtime()
        try installMisbehavingSwift()
        try TestSupport.buildEventCounter(into: plugins)
        let deadline = misbehaviour == .leak ? 10_000 : 300
        TestSupport.write(
            "enabled: true\nsupervision: {memory_limit_mb: 512, deadline_ms: \(deadline)}\nsettings: {\(misbehaviour.rawValue): 3}\n",
            to: plugins + "/misbehaving_swift.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        #expect(host.reload(trigger: "test").changes.allSatisfy { $0.action == .started })
        send(host, 1...8)

        #expect(settlements.count("event_counter", .handled) == 8)
        #expect(settlements.count("misbehaving_swift", .handled) == 7)
        let letter = try #require(deadLetters.records.first)
        #expect(deadLetters.records.count == 1 && letter.eventId == "event-basket_1-3" && letter.attempts == 3)
        // fatalError and precondition trap (SIGILL on x86-64, SIGTRAP on arm64); a failed
        // allocation at the limit is a fatal error too.
        let expected = misbehaviour == .hang ? "deadline of 300 ms exceeded" : "killed by SIG"
        #expect(letter.error.contains(expected), "\(letter.error)")
        #expect((3...4).contains(status(host, "misbehaving_swift")?.worker?.crashes ?? 0))
        host.shutdown(drain: false)
    }

    func installMisbehavingSwift() throws {
        let output = plugins + "/misbehaving_swift.so"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: output)
        try FileManager.default.copyItem(atPath: TestSupport.product("libmisbehaving_swift.so"), toPath: output)
        chmod(output, 0o644)
    }

    @Test func aPluginThatDiesInCreateFailsToStartAndHarmsNoOne() throws {
        let host = try runtime()
        try TestSupport.buildFixture(into: plugins)
        try installMisbehavingSwift()
        try TestSupport.buildEventCounter(into: plugins)
        TestSupport.write("enabled: true\nsettings: {exit_in_create: 1}\n", to: plugins + "/fixture.yaml")
        TestSupport.write("enabled: true\nsettings: {fatal_in_create: true}\n", to: plugins + "/misbehaving_swift.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        let changes = host.reload(trigger: "test").changes
        #expect(changes.map(\.action) == [.started, .failed, .failed])
        #expect(status(host, "fixture")?.lastError?.contains("the plugin crashed while creating its instance (its worker exited with status 4)") == true)
        #expect(status(host, "misbehaving_swift")?.lastError?.contains("crashed while creating its instance (its worker killed by SIG") == true)
        send(host, 1...5)
        #expect(settlements.count("event_counter", .handled) == 5)
        host.shutdown(drain: false)
    }

    @Test func aCrashLoopEndsInQuarantineUntilRestarted() throws {
        let host = try runtime(supervision: "{restart_backoff_initial_ms: 1, restart_backoff_max_ms: 5, quarantine_after_crashes: 4}")
        try TestSupport.buildFixture(into: plugins)
        try TestSupport.buildEventCounter(into: plugins)
        TestSupport.write("enabled: true\nsettings: {crash_always: 1}\n", to: plugins + "/fixture.yaml")
        TestSupport.write("enabled: true\n", to: plugins + "/event_counter.yaml")
        _ = host.reload(trigger: "test")
        for seq in 1...10 { host.registry.route(TestSupport.event(seq: seq)) }

        // Event 1 crashes three times (dead-lettered), event 2 once more: quarantine.
        #expect(TestSupport.eventually { status(host, "fixture")?.state == .quarantined })
        let quarantined = try #require(status(host, "fixture"))
        #expect(quarantined.worker?.health == .quarantined && quarantined.worker?.crashes == 4)
        // Whichever way the first crash came (alone or in a batch), no event but the first was
        // charged an attempt: event 1 used its three, the fourth crash quarantined.
        #expect(quarantined.lastError?.contains("pluginctl restart fixture") == true, "\(quarantined.lastError ?? "")")
        #expect(quarantined.lastError?.contains("killed by SIGSEGV") == true, "\(quarantined.lastError ?? "")")
        host.drain()
        // Only the first event was dead-lettered; the rest were left unsettled (on the bus,
        // uncommitted), not thrown away.
        #expect(deadLetters.records.map(\.eventId) == ["event-basket_1-1"])
        #expect(settlements.count("fixture", .handled) == 0 && settlements.count("fixture", .abandoned) == 9)
        #expect(settlements.count("event_counter", .handled) == 10)
        // Routed events no longer reach it.
        host.registry.route(TestSupport.event(seq: 11))
        host.drain()
        #expect(settlements.count("fixture", .abandoned) == 9)

        // The operator fixes the cause; restart brings it back with a clean history.
        TestSupport.write("enabled: true\nsettings: {crash_always: 0}\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")
        #expect(status(host, "fixture")?.state == .running)
        #expect(host.registry.restart("fixture").action == .restarted)
        #expect(status(host, "fixture")?.worker?.health == .healthy)
        send(host, 12...13)
        #expect(settlements.count("fixture", .handled) == 2)
        host.shutdown(drain: false)
    }

    @Test func anUpgradeSwitchesVersionsWithoutLosingOrRepeatingEvents() throws {
        let host = try runtime()
        try TestSupport.buildFixture(["FIXTURE_VERSION=\"0.0.1\""], into: plugins)
        TestSupport.write("enabled: true\nsettings: {sleep_us: 1000}\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")
        #expect(status(host, "fixture")?.version == "0.0.1")
        let firstPID = try #require(status(host, "fixture")?.worker?.pid)

        // Events keep flowing on another thread while the file is replaced and reloaded.
        let feeder = Thread {
            for seq in 1...600 { host.registry.route(TestSupport.event(seq: seq, key: "basket_\(seq % 3)")) }
        }
        feeder.start()
        usleep(30_000)
        try TestSupport.buildFixture(["FIXTURE_VERSION=\"0.0.2\""], into: directory, fileName: "fixture-next.so")
        #expect(rename(directory + "/fixture-next.so", plugins + "/fixture.so") == 0)
        let upgrade = host.reload(trigger: "test").changes.first { $0.plugin == "fixture" }
        #expect(upgrade?.action == .upgraded && upgrade?.detail == "version 0.0.2")
        #expect(TestSupport.eventually { settlements.count("fixture", .handled) == 600 })
        host.drain()

        #expect(status(host, "fixture")?.version == "0.0.2")
        #expect(status(host, "fixture")?.worker?.pid != firstPID)
        let handled = settlements.all.filter { $0.plugin == "fixture" }
        #expect(handled.count == 600 && Set(handled.map(\.id)).count == 600 && handled.allSatisfy { $0.settlement == .handled })
        #expect(status(host, "fixture")?.metrics.counters["order_violations"] == nil)
        #expect(kill(pid_t(firstPID), 0) != 0)  // the old worker is gone
        host.shutdown(drain: false)
    }

    @Test func aBadUpgradeKeepsTheRunningVersion() throws {
        let host = try runtime()
        try TestSupport.buildFixture(["FIXTURE_VERSION=\"0.0.1\""], into: plugins)
        TestSupport.write("enabled: true\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")

        for (defines, reason) in [
            (["FIXTURE_CREATE_FAILS"], "create failed: cannot reach the loyalty database"),
            (["FIXTURE_ABI_MAJOR=2", "FIXTURE_ABI_MINOR=0"], "built for plugin ABI 2.0"),
            (["FIXTURE_CRASH_ON_LOAD"], "the plugin crashed while loading"),
        ] {
            try TestSupport.buildFixture(defines + ["FIXTURE_VERSION=\"0.0.9\""], into: directory, fileName: "bad.so")
            #expect(rename(directory + "/bad.so", plugins + "/fixture.so") == 0)
            let change = host.reload(trigger: "test").changes.first { $0.plugin == "fixture" }
            #expect(change?.action == .failed && change?.detail?.contains(reason) == true, "\(String(describing: change))")
            #expect(status(host, "fixture")?.version == "0.0.1" && status(host, "fixture")?.state == .running)
        }
        send(host, 1...5)
        #expect(settlements.count("fixture", .handled) == 5)
        host.shutdown(drain: false)
    }

    @Test func theWorkerIsConfined() throws {
        let host = try runtime()
        try TestSupport.buildFixture(into: plugins)
        TestSupport.write("enabled: true\nsupervision: {memory_limit_mb: 300, cpu_limit_seconds: 100}\n", to: plugins + "/fixture.yaml")
        _ = host.reload(trigger: "test")
        let pid = try #require(status(host, "fixture")?.worker?.pid)
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
        #expect(descriptors == [0, 1, 2, 3])
        let procStatus = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(procStatus.contains("NoNewPrivs:\t1"))
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.contains { _ in true } && limits.split(separator: "\n").contains { $0.hasPrefix("Max address space") && $0.contains("314572800") })
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max cpu time") && $0.contains("100") })
        let environment = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)
        #expect(environment.split(separator: "\0").contains("SWIFT_BACKTRACE=enable=no"))
        #expect(getpgid(pid_t(pid)) == pid_t(pid))  // its own process group: terminal signals go to the host
        host.shutdown(drain: false)
        #expect(TestSupport.eventually { kill(pid_t(pid), 0) != 0 })
    }
}

/// Health and backoff as crashes decide them, without processes.
@Suite struct CrashHistoryTests {
    @Test func crashesDegradeThenQuarantineWithinTheWindowAndBackoffDoubles() {
        var settings = SupervisionSettings()
        settings.quarantineAfterCrashes = 3
        settings.crashWindowSeconds = 10
        settings.restartBackoffInitialMilliseconds = 10
        settings.restartBackoffMaxMilliseconds = 25
        var history = CrashHistory(settings: settings)
        let second: UInt64 = 1_000_000_000
        #expect(history.health(at: 0) == .healthy && history.backoffMilliseconds == 0)
        #expect(history.recordCrash("a", at: 1 * second) == .degraded)
        #expect(history.backoffMilliseconds == 10)
        #expect(history.recordCrash("b", at: 2 * second) == .degraded)
        #expect(history.backoffMilliseconds == 20)
        history.recordProgress()
        #expect(history.backoffMilliseconds == 0)
        // The window forgets old crashes: these three are not within 10 s of each other.
        #expect(history.recordCrash("c", at: 13 * second) == .degraded)
        #expect(history.health(at: 24 * second) == .healthy)
        #expect(history.recordCrash("d", at: 25 * second) == .degraded)
        #expect(history.backoffMilliseconds == 20)
        #expect(history.recordCrash("e", at: 26 * second) == .degraded)
        #expect(history.backoffMilliseconds == 25)  // 40, capped
        #expect(history.recordCrash("f", at: 27 * second) == .quarantined)
        #expect(history.health(at: 1_000 * second) == .quarantined)  // until restarted
        #expect(history.totalCrashes == 6 && history.lastReason == "f")
    }
}
