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

    /// Starts the host and waits until its control socket answers.
    func start() throws {
        try process.run()
        let ready = TestSupport.eventually(within: 10) { (try? pluginctl("status", "--json").status) == 0 }
        guard ready else { throw HostError("pos-host did not become ready: \(log)") }
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
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func terminate(signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func itemAdded(_ seq: Int, basket: String = "basket_1") -> String {
        #"{"event_type": "ITEM_ADDED", "timestamp": "2026-11-25T09:00:00Z", "event_id": "e-\#(basket)-\#(seq)", "basket_id": "\#(basket)", "product_id": "P\#(seq)", "quantity": 1, "price": 1.25}"#
    }
}
