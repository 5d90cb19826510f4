import ArgumentParser
import Foundation
import Logging
import PluginHost

#if canImport(Glibc)
import Glibc
#endif

@main
struct PosHost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pos-host",
        abstract: "Runs POS plugins against a stream of events.",
        discussion: """
            Loads the plugins configured in plugins.d, routes events to them, and applies changes to
            config.yaml and plugins.d (file edits, pluginctl, SIGHUP) while running.

            Exit codes: 0 stopped cleanly; 1 fatal error; 78 invalid config.yaml at startup.
            """,
        version: HostRuntime.version)

    @Option(name: .long, help: "Host configuration file (default: ./config.yaml when it exists, else built-in defaults).")
    var config: String?

    @Option(name: .long, help: "Read events as JSON lines from FILE, or '-' for standard input, instead of from Kafka (the kafka section of config.yaml is then not used; exit status 70 when an enabled plugin failed to start).")
    var events: String?

    @Flag(name: .long, help: "Keep running after the events file ends (serve pluginctl until SIGTERM).")
    var keepRunning = false

    @Flag(name: .long, help: "Do not watch configuration files (SIGHUP and pluginctl still reload).")
    var noWatch = false

    @Option(name: .long, help: "Seconds to wait for queued events to be handled on shutdown.")
    var drainTimeout: Double = 10

    func run() throws {
        HostLogHandler.bootstrap()
        let logger = Logger(label: "pos-host")
        let systemd = SystemdNotifier()
        let base = FileManager.default.currentDirectoryPath
        let configPath = config ?? (FileManager.default.fileExists(atPath: "config.yaml") ? base + "/config.yaml" : nil)

        // SIGTERM and SIGINT are taken from the first instant: one that arrives while the host
        // starts (opening the database, joining the consumer groups can take seconds) stops it
        // as soon as it is up, instead of being lost (a parent that ignores SIGTERM hands that
        // disposition down, and an ignored signal is gone).
        let stop = DispatchSemaphore(value: 0)
        let signals = SignalHandlers()
        signals.on(SIGTERM) { stop.signal() }
        signals.on(SIGINT) { stop.signal() }

        let runtime: HostRuntime
        do {
            runtime = try HostRuntime(configPath: configPath, baseDirectory: base, logger: logger, readsFile: events != nil)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("pos-host: \(error)\n".utf8))
            throw ExitCode(78)
        }
        try runtime.start(watch: !noWatch, control: true)
        if let kafka = runtime.kafka, events == nil {
            // READY means consuming: wait until every consumer group has its partitions.
            if !kafka.bridge.waitUntilAssigned(timeoutSeconds: 30) { logger.warning("not every Kafka consumer was assigned partitions within 30 s") }
        }
        var readyMetadata: Logger.Metadata = ["control_socket": .string(runtime.config.controlSocket), "plugins_dir": .string(runtime.config.pluginsDirectory)]
        if let kafka = runtime.kafka { readyMetadata["kafka_bootstrap_servers"] = .string(kafka.bootstrapServers) }
        logger.info("ready", metadata: readyMetadata)
        systemd.ready(status: Self.statusLine(runtime))
        // A host whose registry is wedged (a plugin stuck in reconfigure holds its lock) stops
        // answering status, so it stops pinging, and systemd restarts it.
        try systemd.startWatchdog { _ = runtime.status(); return true }

        signals.on(SIGHUP) {
            systemd.reloading()
            _ = runtime.reload(trigger: "SIGHUP")
            systemd.ready(status: Self.statusLine(runtime))
        }

        if let events {
            let source = try JSONLinesEventSource(path: events, decoder: EventDecoder(maxEventBytes: runtime.config.maxEventBytes, clock: SystemClock(), acceptUnknownTypes: runtime.config.acceptUnknownEventTypes, definedTypes: runtime.eventTypes))
            let keepRunning = keepRunning
            Thread.detachNewThread {
                do {
                    try runtime.pump(source)
                    runtime.drain()
                    logger.info("events source ended; all queued events handled")
                } catch {
                    logger.error("events source failed: \(error)")
                }
                if !keepRunning { stop.signal() }
            }
        }
        stop.wait()
        logger.info("stopping")
        systemd.stopping()
        systemd.stopWatchdog()
        runtime.stopIntake()
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            runtime.drain()
            drained.signal()
        }
        if drained.wait(timeout: .now() + drainTimeout) == .timedOut {
            logger.warning("drain timed out after \(drainTimeout) s; queued events are abandoned")
        }
        let final = runtime.status()
        runtime.shutdown(drain: false)
        printSummary(final)
        // A file run whose enabled plugin never ran did not do what was asked: say so in the
        // exit status too, so a script or CI job does not take it for success.
        if events != nil, final.plugins.contains(where: { $0.enabled && $0.state == .failed }) { throw ExitCode(70) }
    }

    static func statusLine(_ runtime: HostRuntime) -> String {
        let plugins = runtime.status().plugins
        let running = plugins.filter { $0.state == .running }.count
        let failed = plugins.filter { $0.state == .failed }.count
        return "\(running) plugins running" + (failed > 0 ? ", \(failed) failed" : "")
    }

    func printSummary(_ status: HostStatus) {
        var lines = ["pos-host: \(status.ingress.received) events received, \(status.ingress.malformed) malformed, \(status.ingress.unrouted) unrouted"]
        for plugin in status.plugins where plugin.enabled || plugin.metrics.received > 0 {
            let m = plugin.metrics
            if plugin.state == .failed {
                lines.append("  \(plugin.name): failed, handled nothing: \(plugin.lastError ?? "no reason recorded")")
            } else {
                lines.append("  \(plugin.name): \(m.handled) handled, \(m.retried) retried, \(m.deadLettered) dead-lettered, \(m.abandoned) abandoned")
            }
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// Turns signals into callbacks on a private queue (the signals are ignored for the process so
/// that DispatchSource sees them instead of the default action).
final class SignalHandlers: @unchecked Sendable {
    // @unchecked: `sources` is only appended to on the main thread during startup.
    private var sources: [any DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "pos-host.signals")

    func on(_ signalNumber: Int32, _ action: @escaping @Sendable () -> Void) {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
        source.setEventHandler(handler: action)
        source.resume()
        sources.append(source)
    }
}
