import Foundation
import Logging
import Synchronization
import Testing

@testable import PluginHost

/// Paths and builders shared by the tests: real `.so` files, real processes.
enum TestSupport {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support/, PluginHostTests/, Tests/, root
        return url.path
    }()

    /// Where SwiftPM put the products of this build (next to the test runner).
    static let productsDirectory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent
    }()

    static func product(_ name: String) -> String { productsDirectory + "/" + name }

    /// Where test directories live: not under /tmp, because the loader refuses plugins below a
    /// group/other-writable (even sticky) directory; `/var/lib/...` for root, else under $HOME.
    static let temporaryBase: String = {
        let base = geteuid() == 0 ? "/var/lib/pos-plugin-host-tests" : NSHomeDirectory() + "/.cache/pos-plugin-host-tests"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        return base
    }()

    /// A fresh private directory (mode 0700, so plugin trust checks pass).
    static func temporaryDirectory(_ label: String = "test") -> String {
        var template = Array("\(temporaryBase)/pos-\(label)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        return path
    }

    /// Compiles a C plugin against the ABI header alone, as scripts/build-plugins does.
    static func compilePlugin(_ source: String, defines: [String] = [], output: String, headers: String = "Sources/PluginABI/include") throws -> String {
        try run(
            "/usr/bin/cc",
            ["-std=gnu11", "-shared", "-fPIC", "-O1", "-I", (headers.hasPrefix("/") ? "" : packageRoot + "/") + headers] + defines.map { "-D" + $0 }
                + ["-Wl,-z,nodelete", "-Wl,--version-script=" + packageRoot + "/PluginsSrc/plugin.exports", "-o", output, (source.hasPrefix("/") ? "" : packageRoot + "/") + source])
        chmod(output, 0o644)
        return output
    }

    /// Compiles the C fixture plugin with `defines` into `directory/fileName` and returns its path.
    @discardableResult
    static func buildFixture(_ defines: [String] = [], into directory: String, fileName: String = "fixture.so") throws -> String {
        try compilePlugin("Tests/Fixtures/plugins/fixture_plugin.c", defines: defines, output: directory + "/" + fileName)
    }

    /// Builds the example C plugin.
    @discardableResult
    static func buildEventCounter(into directory: String) throws -> String {
        try compilePlugin("PluginsSrc/event_counter/event_counter.c", output: directory + "/event_counter.so")
    }

    /// Copies the Swift example plugin built by SwiftPM into `directory`.
    @discardableResult
    static func installBasketTally(into directory: String) throws -> String {
        let output = directory + "/basket_tally.so"
        try? FileManager.default.removeItem(atPath: output)
        try FileManager.default.copyItem(atPath: product("libbasket_tally.so"), toPath: output)
        chmod(output, 0o644)
        return output
    }

    /// Runs a program to completion; throws with its output when it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil) throws -> (status: Int32, output: String) {
        let result = try capture(executable, arguments, environment: environment, input: input)
        guard result.status == 0 else { throw HostError("\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)") }
        return result
    }

    /// Runs a program and returns its exit status and combined stdout+stderr.
    static func capture(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil, directory: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `capture` on a thread of its own: a child that runs for seconds must not hold one of
    /// Swift's cooperative threads (two on this machine), or other suites' async tests stall.
    static func captureOffPool(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try capture(executable, arguments) })
            }
        }
    }

    static func write(_ text: String, to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644])
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }

    /// An event for the fixture plugin: `seq` in the payload, keyed by `key`.
    static func event(seq: Int, key: String = "basket_1", type: String = "ITEM_ADDED") -> Event {
        Event(id: "event-\(key)-\(seq)", type: type, key: key, timeMilliseconds: 1_795_597_200_000 + Int64(seq), payload: Array(#"{"seq": \#(seq)}"#.utf8))
    }

    /// Polls `condition` every 10 ms until it holds or `seconds` pass.
    static func eventually(within seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }
}

/// Records dispatcher settlements, thread-safely.
final class SettlementLog: Sendable {
    private let entries = Mutex<[(plugin: String, id: String, settlement: Settlement)]>([])
    func record(_ plugin: String, _ event: Event, _ settlement: Settlement) { entries.withLock { $0.append((plugin, event.id, settlement)) } }
    var all: [(plugin: String, id: String, settlement: Settlement)] { entries.withLock { $0 } }
    func count(_ plugin: String, _ settlement: Settlement) -> Int { all.filter { $0.plugin == plugin && $0.settlement == settlement }.count }
}
