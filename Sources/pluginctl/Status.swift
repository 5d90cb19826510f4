import ArgumentParser
import Foundation
import PluginHost

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the running host's plugins, their health and counters.")

    @OptionGroup var common: Common

    @Argument(help: "Show only this plugin, in detail.")
    var name: String?

    func run() throws {
        let config = try common.hostConfig()
        guard let response = try common.send(ControlRequest(command: .status), to: config), let status = response.status else {
            fail("pos-host is not running (no control socket answers at \(config.controlSocket)); start it with scripts/demo or pos-host", Exit.unavailable)
        }
        if let name {
            guard let plugin = status.plugins.first(where: { $0.name == name }) else {
                fail("the host knows no plugin '\(name)'; see pluginctl list", Exit.notFound)
            }
            if common.json { common.print(json: plugin) } else { print(detail(plugin)) }
            return
        }
        if common.json {
            common.print(json: status)
            return
        }
        print(
            "pos-host \(status.version) (ABI \(status.abi)), pid \(status.pid), config generation \(status.configGeneration); "
                + "ingress: \(status.ingress.received) received, \(status.ingress.malformed) malformed, \(status.ingress.unrouted) unrouted")
        if let kafka = status.kafkaBootstrapServers { print("kafka: \(kafka)") }
        if let failures = status.ingress.deadLetterFailures, failures > 0 {
            print("dead letters refused: \(failures) (retried), \(status.ingress.deadLettersPending ?? 0) waiting; last: \(status.ingress.lastDeadLetterError ?? "-")")
        }
        if let poison = status.ingress.poisonRecords {
            print("records that crashed the host while decoded, now dead-lettered and skipped: \(poison.joined(separator: ", "))")
        }
        for error in status.configErrors { print("config rejected: \(error)") }
        print("")
        let rows = status.plugins.map { plugin -> [String] in
            let m = plugin.metrics
            return [
                plugin.name, plugin.state.rawValue + (plugin.consumedHere == false ? " (standby)" : ""), plugin.worker?.health.rawValue ?? (plugin.isolation == "inprocess" ? "in-process" : "-"),
                plugin.version ?? "-", "\(m.received)", "\(m.handled)", "\(m.retried)", "\(m.deadLettered)",
                plugin.handledPerSecond.map { String(format: "%.1f", $0) } ?? "-", "\(m.queueDepth)", plugin.lag.map(String.init) ?? "-", Self.micros(m.latency.p50Microseconds), Self.micros(m.latency.p99Microseconds),
                plugin.configError.map { "settings file rejected: \($0)" } ?? plugin.lastError ?? "",
            ]
        }
        print(table(["PLUGIN", "STATE", "HEALTH", "VERSION", "RECEIVED", "HANDLED", "RETRIED", "DLQ", "RATE/S", "QUEUE", "LAG", "P50", "P99", "LAST ERROR"], rows))
    }

    static func micros(_ value: Double) -> String {
        if value == 0 { return "-" }
        if value < 1000 { return String(format: "%.0fus", value) }
        return String(format: "%.1fms", value / 1000)
    }

    func detail(_ plugin: PluginStatus) -> String {
        let m = plugin.metrics
        var lines = [
            "plugin:        \(plugin.name)", "state:         \(plugin.state.rawValue)\(plugin.enabled ? "" : " (disabled in settings)")\(plugin.consumedHere == false ? " (standby: another host holds its lease and consumes it)" : "")",
            "version:       \(plugin.version ?? "-")", "library:       \(plugin.library)", "isolation:     \(plugin.isolation)",
            "subscriptions: \(plugin.subscriptions.joined(separator: ", "))", "lanes:         \(plugin.lanes)",
            "settings:      \(plugin.settings?.jsonText ?? "-")",
            "lag:           \(plugin.lag.map { "\($0) events not yet committed" } ?? "-")",
            "rate:          \(plugin.handledPerSecond.map { String(format: "%.1f events handled per second (last 10 s)", $0) } ?? "-")",
            "events:        \(m.received) received, \(m.handled) handled, \(m.retried) retried, \(m.failed) failed calls, \(m.deadLettered) dead-lettered, \(m.abandoned) abandoned, \(m.duplicates ?? 0) duplicates skipped, \(m.queueDepth) queued",
            "latency:       p50 \(Self.micros(m.latency.p50Microseconds)), p99 \(Self.micros(m.latency.p99Microseconds)), max \(Self.micros(m.latency.maxMicroseconds)) over \(m.latency.count) calls",
        ]
        if let worker = plugin.worker {
            lines.append(
                "worker:        \(worker.pid.map { "pid \($0)" } ?? "not running"), \(worker.health.rawValue), \(worker.crashes) crashes, \(worker.restarts) restarts"
                    + (worker.residentKilobytes.map { ", \($0 / 1024) MB resident" } ?? ""))
            if let crash = worker.lastCrash { lines.append("last crash:    \(crash)") }
        }
        if !m.counters.isEmpty { lines.append("counters:      " + m.counters.keys.sorted().map { "\($0)=\(m.counters[$0]!)" }.joined(separator: ", ")) }
        if let error = plugin.lastError { lines.append("last error:    \(error)") }
        if let error = plugin.configError { lines.append("config error:  \(error) (last good settings in force)") }
        return lines.joined(separator: "\n")
    }
}
