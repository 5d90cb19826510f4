import Foundation
import Logging
import Synchronization

/// The host's object graph: configuration, registry, ingress, control socket and watcher.
/// Executables only parse arguments and call this.
public final class HostRuntime: @unchecked Sendable {
    // @unchecked: mutable fields are guarded by `reloadLock`; counters are atomics.
    public static let version = "0.1.0"

    public let configPath: String?
    /// Events come from a file (`pos-host --events`): no Kafka, emitted events looped back.
    public let readsFile: Bool
    private let loopback: LoopbackEventSink?
    public let baseDirectory: String
    public let registry: PluginRegistry
    /// The event types the installed plugins define, beside the catalog's.
    public let eventTypes: EventTypeRegistry
    public let logger: Logger
    let clock: any HostClock
    let deadLetters: any DeadLetterSink
    private let reloadLock = NSLock()
    private var hostConfig: HostConfig
    private var generation = 0
    private var configErrors: [String] = []
    private let startedAt: Int64
    private let received = Atomic<Int>(0)
    private let malformed = Atomic<Int>(0)
    private let unrouted = Atomic<Int>(0)
    private var controlServer: ControlServer?
    private var watcher: (any ConfigChangeWatcher)?
    private var metricsServer: MetricsServer?
    private var rateSampler: PollingThread?
    private let rateMeter = RateMeter()
    private let exporter = PrometheusExporter()
    /// The Kafka side, when `kafka:` is configured.
    public let kafka: KafkaConnection?
    /// The database side, when `database:` is configured.
    public let database: DatabaseConnection?
    private var configListener: PostgresConfigListener?
    private var outboxRelay: OutboxRelay?
    private let emittedSink: any EmittedEventSink
    /// Which plugins this host consumes when hosts share the database (nil otherwise).
    public let ownership: PluginOwnership?

    /// The configuration store and durable state in PostgreSQL.
    public final class DatabaseConnection: Sendable {
        public let pool: PostgresPool
        public let configStore: PostgresConfigStore
        /// This host's identity in `pos_host_instances`.
        public let hostID: String

        init(pool: PostgresPool, hostID: String) {
            self.pool = pool
            self.configStore = PostgresConfigStore(pool: pool)
            self.hostID = hostID
        }

        /// Connects (retrying with backoff for up to `timeout` seconds, logging why) and
        /// migrates the schema.
        static func open(url: String, timeout: Int, logger: Logger) throws -> DatabaseConnection {
            let deadline = Date(timeIntervalSinceNow: Double(timeout))
            var delay = 0.2
            while true {
                do {
                    let pool = try PostgresPool(conninfo: url, size: 4, logger: logger)
                    let applied = try pool.with { try PostgresSchema.migrate($0) }
                    if !applied.isEmpty { logger.notice("database schema migrated", metadata: ["versions": .string(applied.map(String.init).joined(separator: ","))]) }
                    // Host name and pid for people, a random tag so two runtimes in one process differ.
                    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
                    return DatabaseConnection(pool: pool, hostID: "\(ProcessInfo.processInfo.hostName):\(getpid()):\(tag)")
                } catch let error as PostgresError where !error.isConnectionFailure {
                    throw HostError("the database refused the host's schema: \(error)")
                } catch {
                    guard Date() < deadline else {
                        throw HostError("the database is unavailable (\(error)); gave up after \(timeout) s (database.connect_timeout_s)")
                    }
                    logger.error("the database is unavailable, retrying in \(Int(delay * 1000)) ms: \(error)")
                    Thread.sleep(forTimeInterval: delay)
                    delay = min(delay * 2, 5)
                }
            }
        }
    }

    /// The bus the host consumes and produces: an embedded cluster or a real one.
    public final class KafkaConnection: Sendable {
        public let settings: HostConfig.KafkaSettings
        public let embedded: EmbeddedKafkaCluster?
        public let bootstrapServers: String
        public let producer: KafkaProducer
        public let bridge: KafkaEventBridge

        init(settings: HostConfig.KafkaSettings, embedded: EmbeddedKafkaCluster?, bootstrapServers: String, producer: KafkaProducer, bridge: KafkaEventBridge) {
            self.settings = settings
            self.embedded = embedded
            self.bootstrapServers = bootstrapServers
            self.producer = producer
            self.bridge = bridge
        }
    }

    /// Reads config.yaml (refusing to start when it is invalid: there is no last good config
    /// yet) and prepares the sinks. Nothing runs until ``start(watch:control:)``.
    public init(
        configPath: String?, baseDirectory: String, logger: Logger, store: any StateStore = InMemoryStateStore(),
        clock: any HostClock = SystemClock(), emitted: (any EmittedEventSink)? = nil, deadLetters: (any DeadLetterSink)? = nil,
        onSettled: (@Sendable (String, Event, Settlement) -> Void)? = nil, readsFile: Bool = false
    ) throws {
        self.configPath = configPath
        self.readsFile = readsFile
        self.baseDirectory = baseDirectory
        self.clock = clock
        let eventTypes = EventTypeRegistry()
        self.eventTypes = eventTypes
        var logger = logger
        var config = try configPath.map { path throws(ConfigError) in try HostConfig.load(path: path) } ?? HostConfig.defaults(baseDirectory: baseDirectory)
        logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
        if readsFile, config.kafka != nil {
            // A file run touches no Kafka (not even the embedded cluster, which would take what
            // plugins emit and the dead letters with it at exit): they go to the files instead.
            logger.notice(
                "reading events from a file: the kafka section of config.yaml is not used",
                metadata: ["emitted_events_file": .string(config.emittedEventsFile), "dead_letter_file": .string(config.deadLetterFile)])
            config.kafka = nil
        }
        self.logger = logger
        hostConfig = config
        var finalStore = store
        var sharedOwnership: PluginOwnership?
        if let url = config.databaseURL {
            let connection = try DatabaseConnection.open(url: url, timeout: config.databaseConnectTimeoutSeconds, logger: logger)
            database = connection
            // An injected store (tests) wins; otherwise state is durable in the database, and with
            // Kafka the hosts sharing it take turns per plugin (one writer each, fenced).
            if store is InMemoryStateStore {
                if config.kafka != nil {
                    let ownership = PluginOwnership(pool: connection.pool, hostID: connection.hostID, logger: logger)
                    sharedOwnership = ownership
                    finalStore = PostgresStateStore(pool: connection.pool) { plugin in try ownership.fenceStatement(plugin: plugin) }
                } else {
                    finalStore = PostgresStateStore(pool: connection.pool)
                }
            }
        } else {
            database = nil
        }
        ownership = sharedOwnership
        var kafkaConnection: KafkaConnection?
        var deadLetterSink = deadLetters
        var emittedSink = emitted
        if let settings = config.kafka {
            let embedded = settings.bootstrapServers == "embedded"
                ? try EmbeddedKafkaCluster(
                    topics: settings.topics.map { ($0, settings.embeddedPartitions) } + settings.topics.map { ($0 + settings.deadLetterSuffix, 1) })
                : nil
            let bootstrap = embedded?.bootstrapServers ?? settings.bootstrapServers
            if embedded != nil { logger.notice("embedded Kafka cluster started", metadata: ["bootstrap_servers": .string(bootstrap)]) }
            let producerLogger = logger
            let producer = try KafkaProducer(bootstrapServers: bootstrap, properties: settings.properties) { failure in
                producerLogger.critical("\(failure)")
            }
            deadLetterSink = deadLetterSink ?? KafkaDeadLetterSink(producer: producer, suffix: settings.deadLetterSuffix, defaultTopic: settings.topics[0])
            emittedSink = emittedSink ?? KafkaEventSink(producer: producer, topic: settings.effectiveEmitTopic)
            // Emitted events that come back to the input are delivered in their causal place
            // (ADR 14): through the database's outbox with one, else in memory.
            var causalLog: (any CausalLog)?
            if settings.topics.contains(settings.effectiveEmitTopic) {
                if let pool = (finalStore as? PostgresStateStore)?.pool {
                    causalLog = PostgresCausalLog(pool: pool)
                } else {
                    let log = InMemoryCausalLog()
                    causalLog = log
                    emittedSink = CausalLogSink(inner: emittedSink!, log: log)
                }
            }
            let decoder = EventDecoder(
                maxEventBytes: config.maxEventBytes, clock: clock, acceptUnknownTypes: config.acceptUnknownEventTypes, definedTypes: eventTypes)
            let journal = DecodeCrashJournal(directory: config.stateDirectory)
            if !journal.isActive { logger.warning("the decode crash journal in \(config.stateDirectory) cannot be used: a record that crashes the host would do so after every restart") }
            for (record, count) in journal.foundInFlight.sorted(by: { $0.key.description < $1.key.description }) {
                let verdict = count >= journal.threshold ? "now dead-lettered and skipped" : "\(journal.threshold - count) more and it is dead-lettered"
                logger.critical("\(record) was being decoded when the host last died (\(count) start(s) in a row): \(verdict)")
            }
            let bridge = KafkaEventBridge(
                settings: settings, bootstrapServers: bootstrap, decoder: decoder, deadLetters: deadLetterSink!, clock: clock, logger: logger,
                positions: finalStore as? PositionStore, ownership: sharedOwnership, causalLog: causalLog,
                crashJournal: journal)
            kafkaConnection = KafkaConnection(settings: settings, embedded: embedded, bootstrapServers: bootstrap, producer: producer, bridge: bridge)
        }
        kafka = kafkaConnection
        let finalDeadLetters = try deadLetterSink ?? JSONLinesDeadLetterSink(path: config.deadLetterFile)
        self.deadLetters = finalDeadLetters
        var finalEmitted = try emittedSink ?? JSONLinesEventSink(path: config.emittedEventsFile)
        if readsFile && kafkaConnection == nil {
            let loopback = LoopbackEventSink(inner: finalEmitted)
            self.loopback = loopback
            finalEmitted = loopback
        } else {
            loopback = nil
        }
        self.emittedSink = finalEmitted
        let bridge = kafkaConnection?.bridge
        var settled = onSettled
        if let bridge {
            settled = { @Sendable plugin, event, settlement in
                bridge.settled(plugin, event, settlement)
                onSettled?(plugin, event, settlement)
            }
        }
        registry = PluginRegistry(
            services: PluginServices(
                store: finalStore, clock: clock, emitted: finalEmitted, deadLetters: finalDeadLetters, logger: logger, onSettled: settled,
                eventTypes: eventTypes))
        if let bridge {
            registry.setObserver(bridge)
            let registry = registry
            bridge.restartPlugin = { name in _ = registry.restart(name) }
            let stateStore = registry.services.store
            bridge.forgetState = { name in stateStore.forget(plugin: name) }
            sharedOwnership?.onAcquired = { [weak bridge] name in bridge?.acquired(name) }
            sharedOwnership?.onReleased = { [weak bridge] name, handover in bridge?.released(name, handover: handover) }
        }
        startedAt = clock.nowMilliseconds()
        if let loopback {
            // Through the same ingress checks a Kafka host applies when it reads them back.
            let decoder = EventDecoder(maxEventBytes: config.maxEventBytes, clock: clock, acceptUnknownTypes: config.acceptUnknownEventTypes, definedTypes: eventTypes)
            loopback.start { [weak self] event in
                guard let self else { return }
                let emitter = event.source.flatMap { $0.hasPrefix("plugin:") ? String($0.dropFirst(7)) : nil }
                let envelope = EventHeaders.envelope(event)
                do throws(EventRejection) {
                    var decoded = try decoder.decode(envelope)
                    decoded.source = event.source
                    _ = self.registry.route(decoded, except: emitter)
                } catch {
                    self.ingest(.malformed(raw: envelope, reason: error.reason, origin: "emitted by \(event.source ?? "a plugin")"))
                }
            }
        }
    }

    public var config: HostConfig { reloadLock.withLock { hostConfig } }

    /// The port the metrics endpoint listens on, when one is configured.
    public var metricsPort: UInt16? { metricsServer?.port }

    /// Applies the configuration, then (optionally) serves the control socket and watches the
    /// configuration files.
    @discardableResult
    public func start(watch: Bool, control: Bool) throws -> ReloadReport {
        try kafka?.bridge.start()
        if let database, let url = config.databaseURL {
            // Listening before the first read: no change can fall between the two.
            let listener = PostgresConfigListener(
                conninfo: url, logger: logger,
                heartbeat: { [weak self] in self?.recordAppliedVersion() },
                onChange: { [weak self] trigger in _ = self?.reload(trigger: trigger) })
            try listener.start()
            configListener = listener
            if registry.services.store.keepsOutbox {
                let relay = OutboxRelay(pool: database.pool, sink: emittedSink, logger: logger)
                relay.start()
                outboxRelay = relay
            }
            logger.info("plugin configuration comes from the database", metadata: ["host_id": .string(database.hostID)])
        }
        let report = reload(trigger: "startup")
        kafka?.bridge.releaseHeldFeeds()
        ownership?.start()
        if control {
            let server = ControlServer(path: config.controlSocket, logger: logger) { [weak self] request in
                self?.handle(request) ?? ControlResponse(ok: false, error: "the host is shutting down")
            }
            try server.start()
            controlServer = server
        }
        rateMeter.record(registry.status())
        let sampler = try PollingThread()
        let neverReadable = Pipe()
        sampler.start { [weak self] poller in
            withExtendedLifetime(neverReadable) {
                while poller.wait(for: neverReadable.fileHandleForReading.fileDescriptor, timeoutMilliseconds: 1_000) != nil {
                    guard let self else { return }
                    self.rateMeter.record(self.registry.status())
                }
            }
        }
        rateSampler = sampler
        if let address = config.metricsListen {
            let server = MetricsServer(address: address, logger: logger) { [weak self] in
                guard let self else { return "" }
                return self.exporter.render(self.status(), rates: self.rateMeter.rates())
            }
            try server.start()
            metricsServer = server
            logger.info("serving Prometheus metrics", metadata: ["url": .string("http://\(address.split(separator: ":")[0]):\(server.port)/metrics")])
        }
        if watch {
            var directories = [config.pluginsDirectory]
            if let configPath { directories.append((configPath as NSString).deletingLastPathComponent.isEmpty ? "." : (configPath as NSString).deletingLastPathComponent) }
            let watcher = InotifyConfigWatcher(directories: directories)
            try watcher.start { [weak self] in _ = self?.reload(trigger: "file change") }
            self.watcher = watcher
        }
        return report
    }

    /// Re-reads the configuration and applies the difference. Serialised: concurrent triggers
    /// (file watcher, SIGHUP, pluginctl) run one after another.
    public func reload(trigger: String) -> ReloadReport {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        let snapshot = ConfigSnapshot.read(configPath: configPath, baseDirectory: baseDirectory, previousHost: hostConfig)
        var errors: [String] = []
        if let error = snapshot.hostError {
            errors.append(error.description)
            logger.error("config.yaml rejected, keeping the last good host settings: \(error)")
        } else if snapshot.host != hostConfig {
            for (field, old, new) in [
                ("plugins_dir", hostConfig.pluginsDirectory, snapshot.host.pluginsDirectory), ("control_socket", hostConfig.controlSocket, snapshot.host.controlSocket),
                ("dead_letter_file", hostConfig.deadLetterFile, snapshot.host.deadLetterFile),
                ("emitted_events_file", hostConfig.emittedEventsFile, snapshot.host.emittedEventsFile),
                ("events.unknown_types", hostConfig.acceptUnknownEventTypes ? "accept" : "reject", snapshot.host.acceptUnknownEventTypes ? "accept" : "reject"),
                ("events.max_event_bytes", String(hostConfig.maxEventBytes), String(snapshot.host.maxEventBytes)),
                ("database_url", hostConfig.databaseURL == nil ? "none" : "set", snapshot.host.databaseURL == nil ? "none" : (snapshot.host.databaseURL == hostConfig.databaseURL ? "set" : "another")),
            ] where old != new {
                logger.warning("\(field) changed from \(old) to \(new): takes effect when pos-host restarts")
            }
            if snapshot.host.kafka != hostConfig.kafka && !readsFile {
                logger.warning("kafka changed: takes effect when pos-host restarts")
            }
            var applied = snapshot.host
            applied.pluginsDirectory = hostConfig.pluginsDirectory
            applied.controlSocket = hostConfig.controlSocket
            applied.deadLetterFile = hostConfig.deadLetterFile
            applied.emittedEventsFile = hostConfig.emittedEventsFile
            // What only a restart changes stays as it runs, so status never shows a setting
            // that is not in force.
            applied.acceptUnknownEventTypes = hostConfig.acceptUnknownEventTypes
            applied.maxEventBytes = hostConfig.maxEventBytes
            applied.databaseURL = hostConfig.databaseURL
            applied.kafka = hostConfig.kafka
            hostConfig = applied
        }
        var effective = snapshot
        effective.host = hostConfig
        if snapshot.host.pluginsDirectory != hostConfig.pluginsDirectory {
            (effective.plugins, effective.pluginErrors, effective.unconfiguredLibraries) = ConfigSnapshot.readPlugins(directory: hostConfig.pluginsDirectory)
        }
        errors += effective.pluginErrors.values.map(\.description).sorted()
        var databaseVersion: Int64?
        if let database {
            do {
                // Read the version first: a change committed meanwhile is applied by its own NOTIFY.
                databaseVersion = try database.configStore.currentVersion()
                effective.plugins = try database.configStore.overlay(effective.plugins, seededBy: database.hostID)
            } catch {
                errors.append("database: \(error)")
                logger.error("cannot read plugin configuration from the database, keeping what runs: \(error)")
                return ReloadReport(generation: generation, trigger: trigger, changes: [], errors: errors, plugins: registry.status())
            }
        }
        let changes = registry.apply(effective)
        if let database, let databaseVersion {
            appliedVersion = databaseVersion
            do { try database.configStore.recordApplied(host: database.hostID, version: databaseVersion) } catch {
                logger.warning("cannot record the applied configuration version: \(error)")
            }
        }
        let meaningful = changes.filter { $0.action != .unchanged }
        // The generation counts configurations that differ: a change seen twice (the file
        // watcher and pluginctl's reload both fire for one `config set`) is one generation.
        if !meaningful.isEmpty || errors != configErrors || trigger == "startup" { generation += 1 }
        configErrors = errors
        if !meaningful.isEmpty || trigger == "startup" {
            let running = Set(registry.status().filter { $0.state == .running }.map(\.name))
            logger.info(
                "configuration applied",
                metadata: [
                    "generation": .stringConvertible(generation), "trigger": .string(trigger),
                    "changes": .string(meaningful.map { Self.describe($0, stillRunning: running.contains($0.plugin)) }.joined(separator: ", ")),
                ])
        }
        return ReloadReport(generation: generation, trigger: trigger, changes: changes, errors: errors, plugins: registry.status())
    }

    /// A change as the log says it: a refused change to a plugin that keeps running is not a
    /// failure of the plugin.
    static func describe(_ change: PluginChange, stillRunning: Bool) -> String {
        if change.action == .failed && stillRunning { return "\(change.plugin): change refused, previous settings still running" }
        return "\(change.plugin): \(change.action.rawValue)"
    }

    public func status() -> HostStatus {
        let (generation, errors) = reloadLock.withLock { (self.generation, configErrors) }
        var plugins = registry.status()
        let rates = rateMeter.rates()
        for index in plugins.indices { plugins[index].handledPerSecond = rates[plugins[index].name] }
        var ingress = IngressCounters(
            received: received.load(ordering: .relaxed), malformed: malformed.load(ordering: .relaxed), unrouted: unrouted.load(ordering: .relaxed))
        if let kafka {
            let lag = kafka.bridge.lag()
            for index in plugins.indices { plugins[index].lag = lag[plugins[index].name] }
            if ownership != nil {
                for index in plugins.indices where plugins[index].state == .running {
                    plugins[index].consumedHere = kafka.bridge.consumes(plugins[index].name)
                }
            }
            ingress.received += kafka.bridge.ingressCounters.received.load(ordering: .relaxed)
            ingress.malformed += kafka.bridge.ingressCounters.malformed.load(ordering: .relaxed)
            ingress.deadLetterFailures = kafka.bridge.ingressCounters.deadLetterFailures.load(ordering: .relaxed)
            ingress.lastDeadLetterError = kafka.bridge.ingressCounters.lastDeadLetterError.withLock { $0 }
            ingress.deadLettersPending = kafka.bridge.ingressCounters.deadLettersPending.load(ordering: .relaxed)
            if let poison = kafka.bridge.crashJournal?.poison, !poison.isEmpty { ingress.poisonRecords = poison.keys.map(\.description).sorted() }
        }
        return HostStatus(
            pid: getpid(), version: Self.version, abi: "\(PluginLoader.hostABIMajor).\(PluginLoader.hostABIMinor)",
            startedAtMilliseconds: startedAt, configGeneration: generation, configErrors: errors, ingress: ingress,
            kafkaBootstrapServers: kafka?.bootstrapServers, plugins: plugins)
    }

    /// Answers one control request.
    public func handle(_ request: ControlRequest) -> ControlResponse {
        switch request.command {
        case .status:
            return ControlResponse(ok: true, status: status())
        case .reload:
            let report = reload(trigger: "pluginctl")
            return ControlResponse(ok: report.errors.isEmpty, error: report.errors.first, reload: report)
        case .query:
            guard let plugin = request.plugin, let name = request.query else { return ControlResponse(ok: false, error: "query needs plugin and query", code: "bad_request") }
            let body = Array((request.request ?? "{}").utf8)
            if case .failure(let error) = Result(catching: { try JSONValue.parse(body) }) {
                return ControlResponse(ok: false, error: "the request is not JSON: \(error)", code: "bad_request")
            }
            guard registry.status().contains(where: { $0.name == plugin }) else {
                return ControlResponse(ok: false, error: "no plugin named \(plugin)", code: "no_such_plugin")
            }
            if let after = request.after, !after.isEmpty, let refusal = waitUntilHandled(plugin, after, waitMilliseconds: request.waitMilliseconds ?? 2000) {
                return refusal
            }
            switch registry.query(plugin: plugin, name: name, request: body) {
            case .answer(let bytes): return ControlResponse(ok: true, answer: String(decoding: bytes, as: UTF8.self))
            case .unknownQuery(let detail): return ControlResponse(ok: false, error: "unknown query: \(detail)", code: "unknown_query")
            case .failed(let reason):
                return ControlResponse(ok: false, error: reason, code: reason.hasSuffix("is not running") ? "not_running" : "failed")
            }
        case .events:
            return ControlResponse(ok: true, eventTypes: eventTypeList())
        case .restart:
            guard let plugin = request.plugin else { return ControlResponse(ok: false, error: "restart needs a plugin", code: "bad_request") }
            guard registry.status().contains(where: { $0.name == plugin }) else {
                return ControlResponse(ok: false, error: "no plugin named \(plugin)", code: "no_such_plugin")
            }
            let change = registry.restart(plugin)
            return ControlResponse(
                ok: change.action == .restarted, error: change.action == .restarted ? nil : change.detail, code: change.action == .restarted ? nil : "failed",
                change: change)
        }
    }

    /// The catalog's types, then those the plugins define.
    public func eventTypeList() -> [EventTypeInfo] {
        let catalog = EventCatalog.standard.specs.map { spec in
            let fields = JSONValue.object(Dictionary(uniqueKeysWithValues: spec.fields.map {
                ($0.name, JSONValue.string($0.kind.rawValue + ($0.required ? "" : "?")))
            }))
            return EventTypeInfo(name: spec.type, definedBy: "catalog", description: spec.summary, aliases: spec.aliases, payload: fields.jsonText)
        }
        let defined = eventTypes.all.map {
            EventTypeInfo(
                name: $0.declaration.name, definedBy: "plugin:\($0.plugin)", description: $0.declaration.description, aliases: [],
                payload: $0.declaration.payloadSchema?.jsonText ?? "{}")
        }
        return catalog + defined
    }

    /// Waits until `plugin` has handled every event at or before `positions` here; nil when it
    /// has, else the refusal to answer with (`not_owner`, `pending`, `bad_request`).
    func waitUntilHandled(_ plugin: String, _ positions: [ControlRequest.QueryPosition], waitMilliseconds: Int) -> ControlResponse? {
        guard let bridge = kafka?.bridge else {
            return ControlResponse(ok: false, error: "positions need the Kafka bus; this host reads a file", code: "bad_request")
        }
        let targets = positions.map { (TopicPartition(topic: $0.topic, partition: $0.partition), $0.offset) }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, min(waitMilliseconds, 60_000))) * 1_000_000
        while true {
            switch bridge.settled(plugin, through: targets) {
            case .settled: return nil
            case .notHere:
                return ControlResponse(ok: false, error: "this host does not consume \(plugin) (or those partitions) right now", code: "not_owner")
            case .pending:
                guard DispatchTime.now().uptimeNanoseconds < deadline else {
                    return ControlResponse(ok: false, error: "\(plugin) has not handled those events within \(waitMilliseconds) ms", code: "pending")
                }
                usleep(1_000)
            }
        }
    }

    /// Routes one ingress record; malformed input is dead-lettered, never dropped.
    public func ingest(_ record: IngressRecord) {
        switch record {
        case .event(let event):
            received.wrappingAdd(1, ordering: .relaxed)
            if registry.route(event) == 0 { unrouted.wrappingAdd(1, ordering: .relaxed) }
        case .malformed(let raw, let reason, let origin):
            malformed.wrappingAdd(1, ordering: .relaxed)
            logger.warning("malformed input dead-lettered: \(reason)", metadata: ["origin": .string(origin)])
            do {
                try deadLetters.deadLetter(DeadLetterRecord(malformed: raw, error: reason, origin: origin, timeMilliseconds: clock.nowMilliseconds()))
            } catch {
                logger.critical("dead letter could not be written: \(error)")
            }
        }
    }

    /// Reads `source` until it ends or `shouldStop` turns true, routing every record.
    public func pump(_ source: any EventSource, shouldStop: () -> Bool = { false }) throws {
        while !shouldStop(), let record = try source.next() { ingest(record) }
    }

    /// Waits until every plugin has settled what is queued.
    public func drain() {
        guard let loopback else { return registry.drainAll() }
        // Handlers emit while they drain, and what they emit is handled in turn: until a pass
        // routes nothing new.
        var routed = loopback.settle()
        while true {
            registry.drainAll()
            let now = loopback.settle()
            if now == routed { return }
            routed = now
        }
    }

    /// Stops taking new events from the bus (queued events are still handled).
    public func stopIntake() { kafka?.bridge.pauseAll() }

    /// Stops watching and serving, commits what is handled, stops every plugin (draining
    /// first when asked), then closes the bus clients.
    /// The database configuration version this host last applied.
    public private(set) var appliedVersion: Int64 = 0

    func recordAppliedVersion() {
        guard let database else { return }
        let version = reloadLock.withLock { appliedVersion }
        try? database.configStore.recordApplied(host: database.hostID, version: version)
    }

    public func shutdown(drain: Bool) {
        configListener?.stop()
        watcher?.stop()
        controlServer?.stop()
        metricsServer?.stop()
        rateSampler?.stop()
        if drain { self.drain() }
        loopback?.stop()
        if let kafka {
            logger.debug("shutdown: committing and closing consumers")
            // Leases are given back after the consumers committed, so others take over at once.
            if let ownership { ownership.stop { kafka.bridge.stop() } } else { kafka.bridge.stop() }
        }
        logger.debug("shutdown: stopping plugins")
        registry.stopAll(drain: false)
        outboxRelay?.stop()
        if let kafka {
            logger.debug("shutdown: flushing the producer")
            kafka.producer.close()
            kafka.embedded?.close()
        }
        logger.debug("shutdown: done")
    }
}
