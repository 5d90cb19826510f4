import Foundation
import Logging
import PluginHost

/// pluginctl's side of the configuration store: with `database:` in config.yaml, enable,
/// disable and config set write the plugin's row (with an audit record and a NOTIFY) instead of
/// its YAML file, then wait until every live host has applied the new version.
enum DatabaseAdmin {
    static func store(_ config: HostConfig) -> PostgresConfigStore? {
        guard let url = config.databaseURL else { return nil }
        var logger = Logger(label: "pluginctl")
        logger.logLevel = .error
        do {
            let pool = try PostgresPool(conninfo: url, size: 1, logger: logger)
            _ = try pool.with { try PostgresSchema.migrate($0) }
            return PostgresConfigStore(pool: pool)
        } catch {
            fail("the configuration database is unavailable: \(error)", Exit.unavailable)
        }
    }

    static var author: String {
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "uid \(getuid())"
        return "pluginctl (\(user)@\(ProcessInfo.processInfo.hostName))"
    }

    /// Writes the row, then waits (up to `seconds`) for the live hosts to apply it.
    static func write(
        _ store: PostgresConfigStore, name: String, common: Common, seconds: Double = 5,
        _ change: (PostgresConfigStore.Row?) throws -> (enabled: Bool, isolation: PluginConfig.Isolation, settings: JSONValue)
    ) throws {
        let version: Int64
        do { version = try store.write(name: name, by: author, change) } catch { fail("cannot store the change: \(error)", Exit.failed) }
        var hosts: [(host: String, applied: Int64)] = []
        let applied = TestableWait.until(seconds: seconds) {
            hosts = (try? store.liveHosts()) ?? []
            return hosts.allSatisfy { $0.applied >= version }
        }
        let done = hosts.filter { $0.applied >= version }.count
        if common.json {
            common.print(json: ["plugin": .string(name), "version": .number(Double(version)), "hosts": .number(Double(hosts.count)), "applied_by": .number(Double(done))] as [String: JSONValue])
        } else if hosts.isEmpty {
            print("\(name): stored as configuration version \(version); no host is running, it applies when one starts")
        } else {
            print("\(name): configuration version \(version) applied by \(done) of \(hosts.count) running host\(hosts.count == 1 ? "" : "s")")
        }
        if !applied { fail("not every running host applied version \(version) within \(Int(seconds)) s: \(hosts.filter { $0.applied < version }.map(\.host).joined(separator: ", "))", Exit.timeout) }
    }
}

enum TestableWait {
    static func until(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
