import Foundation
import Testing

@testable import PluginHost

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket: @unchecked Sendable {
    let path: String
    let descriptor: Int32

    init(directory: String) throws {
        path = directory + "/notify.sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = try UnixSocket.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HostError("bind \(path) failed") }
    }

    /// The next datagram, or nil after `timeout` seconds.
    func receive(timeout: Double = 5) -> String? {
        var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&pollDescriptor, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Messages until one starts with `prefix` (which is included), skipping watchdog pings
    /// unless asked for.
    func receive(until prefix: String, timeout: Double = 5) -> [String] {
        var messages: [String] = []
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline, let message = receive(timeout: deadline.timeIntervalSinceNow) {
            if message == "WATCHDOG=1" && prefix != "WATCHDOG=1" { continue }
            messages.append(message)
            if message.hasPrefix(prefix) { break }
        }
        return messages
    }

    deinit { close(descriptor) }
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct SystemdTests {
    @Test func notifiesReadyReloadingWatchdogAndStopping() throws {
        let host = try HostProcess(label: "notify")
        let notify = try NotifySocket(directory: host.directory)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment["WATCHDOG_USEC"] = "200000"
        host.process.environment = environment
        try host.start()

        let ready = try #require(notify.receive(until: "READY=1").last)
        #expect(ready == "READY=1\nSTATUS=2 plugins running")
        #expect(notify.receive(until: "WATCHDOG=1", timeout: 2).last == "WATCHDOG=1")

        kill(host.process.processIdentifier, SIGHUP)
        let reload = notify.receive(until: "READY=1")
        #expect(reload.count == 2)
        #expect(reload.first?.range(of: #"^RELOADING=1\nMONOTONIC_USEC=[0-9]+$"#, options: .regularExpression) != nil)
        #expect(reload.last == "READY=1\nSTATUS=2 plugins running")

        #expect(host.terminate() == 0)
        #expect(notify.receive(until: "STOPPING=1").last == "STOPPING=1")
    }

    @Test func logsForJournaldUnderSystemd() throws {
        let host = try HostProcess(label: "journal")
        var environment = ProcessInfo.processInfo.environment
        environment["JOURNAL_STREAM"] = "8:1234"
        host.process.environment = environment
        try host.start()
        #expect(host.finish() == 0)
        let lines = host.log.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>plugin started") && $0.contains("plugin=basket_tally") && $0.contains("version=1.0.0") })
        #expect(lines.contains { $0.hasPrefix("<6>ready ") })
    }

    @Test(arguments: ["pos-host", "pos-api"]) func theUnitFilePassesSystemdAnalyzeVerify(_ service: String) throws {
        let analyzer = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyzer), "systemd-analyze is not installed")
        let directory = TestSupport.temporaryDirectory("unit")
        let unit = try String(contentsOfFile: TestSupport.packageRoot + "/scripts/\(service).service", encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec="))
        if service == "pos-host" { #expect(unit.contains("ExecReload=") && unit.contains("StateDirectory=") && unit.contains("ConfigurationDirectory=")) }
        for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet="] {
            #expect(unit.contains(hardening), "missing \(hardening)")
        }
        // verify checks that ExecStart exists: point it at the binary of this build.
        TestSupport.write(unit.replacingOccurrences(of: "/usr/local/bin/\(service)", with: TestSupport.product(service)), to: directory + "/\(service).service")
        let result = try TestSupport.capture(analyzer, ["verify", directory + "/\(service).service"])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("\(service).service"), "systemd-analyze complained: \(result.output)")
    }
}
