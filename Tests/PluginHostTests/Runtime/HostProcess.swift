import Foundation
import Testing

@testable import PluginHost

/// A real `pos-host` child process in its own directory, fed events through its stdin.
final class HostProcess: @unchecked Sendable {
    let directory: String
    let process = Process()
    let input = Pipe()
    let logPath: String

    var configPath: String { directory + "/config.yaml" }
    var plugins: String { directory + "/plugins.d" }

    /// Prepares a directory with config.yaml, plugins.d with the two example plugins enabled.
    init(label: String, extraArguments: [String] = [], configText: String? = nil) throws {
        directory = TestSupport.temporaryDirectory(label)
        logPath = directory + "/host.log"
        try FileManager.default.createDirectory(atPath: directory + "/plugins.d", withIntermediateDirectories: true)
        chmod(directory + "/plugins.d", 0o755)
        TestSupport.write(
            configText ?? "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndead_letter_file: var/dlq.jsonl\nemitted_events_file: var/emitted.jsonl\nlog_level: debug\n",
            to: configPath)
        try TestSupport.buildEventCounter(into: plugins)
        try TestSupport.installBasketTally(into: plugins)
        TestSupport.write("# counts events\nenabled: true\n", to: plugins + "/event_counter.yaml")
        TestSupport.write("# tallies baskets\nenabled: true\nsettings:\n  currency: USD\n", to: plugins + "/basket_tally.yaml")
        process.executableURL = URL(fileURLWithPath: TestSupport.product("pos-host"))
        process.arguments = ["--config", configPath, "--events", "-"] + extraArguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = input
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
    }

    /// Starts the host and waits until its control socket answers (and, on Kafka, until it
    /// logged "ready", which it does once its consumer groups have partitions).
    func start() throws {
        try process.run()
        try waitUntilReady()
    }

    /// Waits until a launched host's control socket answers (and, on Kafka, it logged "ready").
    func waitUntilReady() throws {
        let ready = TestSupport.eventually(within: 30) {
            // The host's own line ("pos-host: ready "), not a plugin's "NAME ready".
            (try? pluginctl("status", "--json").status) == 0 && (!usesKafka || log.contains("pos-host: ready "))
        }
        guard ready else { throw HostError("pos-host did not become ready: \(log)") }
    }

    var usesKafka: Bool { (try? String(contentsOfFile: configPath, encoding: .utf8))?.contains("kafka:") == true }

    /// A host consuming `bootstrap` (a cluster the test owns) instead of standard input.
    static func onKafka(label: String, bootstrap: String, extraConfig: String = "") throws -> HostProcess {
        let host = try HostProcess(
            label: label,
            configText: "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\nlog_level: debug\n\(extraConfig)kafka:\n  bootstrap_servers: \"\(bootstrap)\"\n  group_prefix: test\n")
        host.process.arguments = ["--config", host.configPath]
        return host
    }

    /// Starts the same host configuration again in a new process (after the first one stopped).
    func restarted() throws -> HostProcess {
        let next = HostProcess(reusing: self)
        try next.start()
        return next
    }

    /// The same configuration in a new process, launched but not waited for (to kill it while
    /// it starts: opening the database, taking leases, joining the groups).
    func launched() throws -> HostProcess {
        let next = HostProcess(reusing: self)
        try next.process.run()
        return next
    }

    /// The same configuration in a new process, not started yet.
    func next() -> HostProcess { HostProcess(reusing: self) }

    /// Waits for a host that is expected to die by itself; its exit status (or -1 on timeout).
    func waitUntilItDies(within seconds: Double = 30) -> Int32 {
        expectingFailure = true
        return waitForExit(within: seconds)
    }

    private init(reusing other: HostProcess) {
        directory = other.directory
        logPath = other.directory + "/host-\(UUID().uuidString.prefix(8)).log"
        process.executableURL = other.process.executableURL
        process.arguments = other.process.arguments
        process.currentDirectoryURL = other.process.currentDirectoryURL
        process.environment = other.process.environment
        process.standardInput = input
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func send(_ lines: [String]) {
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Runs pluginctl against this host.
    @discardableResult
    func pluginctl(_ arguments: String...) throws -> (status: Int32, output: String) {
        try TestSupport.capture(TestSupport.product("pluginctl"), arguments + ["--config", configPath], directory: directory)
    }

    func status() throws -> HostStatus {
        let result = try pluginctl("status", "--json")
        guard result.status == 0 else { throw HostError("status failed: \(result.output)") }
        return try JSONDecoder().decode(HostStatus.self, from: Data(result.output.utf8))
    }

    func plugin(_ name: String) throws -> PluginStatus? { try status().plugins.first { $0.name == name } }

    /// Closes stdin (end of events) and waits for the exit status.
    func finish(within seconds: Double = 30) -> Int32 {
        try? input.fileHandleForWriting.close()
        return waitForExit(within: seconds)
    }

    func terminate(signal: Int32 = SIGTERM, within seconds: Double = 30) -> Int32 {
        kill(process.processIdentifier, signal)
        return waitForExit(within: seconds)
    }

    /// The exit status, or -1 (and a SIGKILL, and a recorded issue) when the host does not exit
    /// in time: a test must never hang the suite.
    private func waitForExit(within seconds: Double) -> Int32 {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else {
            Issue.record("pos-host did not exit within \(seconds) s; killed. Log:\n\(log.suffix(3000))")
            kill(process.processIdentifier, SIGKILL)
            // Not waitUntilExit: a host killed inside Swift's crash backtracer once stayed a
            // zombie that Foundation never reaped, and the wait hung the whole suite.
            let killedAt = Date()
            while process.isRunning && Date().timeIntervalSince(killedAt) < 10 { usleep(20_000) }
            if process.isRunning {
                var status: Int32 = 0
                _ = waitpid(process.processIdentifier, &status, WNOHANG)
            }
            return -1
        }
        if process.terminationStatus != 0 && !expectingFailure {
            Issue.record("pos-host exited with \(process.terminationReason == .uncaughtSignal ? "signal" : "status") \(process.terminationStatus). Log:\n\(log.suffix(6000))")
        }
        return process.terminationStatus
    }

    /// Set when a test expects the host to fail (its log is then not attached to the result).
    var expectingFailure = false

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killedAt = Date()  // bounded, as in waitForExit
            while process.isRunning && Date().timeIntervalSince(killedAt) < 10 { usleep(20_000) }
        }
    }

    static func itemAdded(_ seq: Int, basket: String = "basket_1") -> String {
        #"{"event_type": "ITEM_ADDED", "timestamp": "2026-11-25T09:00:00Z", "event_id": "e-\#(basket)-\#(seq)", "basket_id": "\#(basket)", "product_id": "P\#(seq)", "quantity": 1, "price": 1.25}"#
    }
}
