import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Told when plugins start and stop, so an event source can feed them (the Kafka bridge).
/// Called under the registry's lock: do not call back into the registry.
public protocol PluginLifecycleObserver: AnyObject, Sendable {
    /// `dispatcher` now takes `name`'s events; `policy` says where its reading resumes.
    func pluginStarted(_ name: String, dispatcher: PluginDispatcher, subscriptions: [String], policy: PluginConfig.EnablePolicy)
    /// `dispatcher` is about to stop: feed it nothing more.
    func pluginStopping(_ name: String, dispatcher: PluginDispatcher)
    /// An upgraded plugin subscribes to other event types; its dispatcher stays.
    func pluginSubscriptionsChanged(_ name: String, dispatcher: PluginDispatcher, subscriptions: [String])
}

/// What the registry needs from the host to run plugins.
public struct PluginServices: Sendable {
    public var store: any StateStore
    public var clock: any HostClock
    public var emitted: any EmittedEventSink
    public var deadLetters: any DeadLetterSink
    public var logger: Logger
    public var onSettled: (@Sendable (String, Event, Settlement) -> Void)?
    /// The event types the plugins define (shared with the ingress).
    public var eventTypes: EventTypeRegistry

    public init(
        store: any StateStore, clock: any HostClock, emitted: any EmittedEventSink, deadLetters: any DeadLetterSink,
        logger: Logger, onSettled: (@Sendable (String, Event, Settlement) -> Void)? = nil, eventTypes: EventTypeRegistry = EventTypeRegistry()
    ) {
        self.eventTypes = eventTypes
        self.store = store
        self.clock = clock
        self.emitted = emitted
        self.deadLetters = deadLetters
        self.logger = logger
        self.onSettled = onSettled
    }
}

/// The set of plugins and their running state. Applies configuration as a diff (start, stop,
/// reconfigure, restart only what changed) and routes events to the running plugins.
///
/// Thread contract: `apply`, `status`, `query` and `stopAll` are serialised by one lock;
/// `route` takes only a snapshot of the routing table and may run concurrently with them.
public final class PluginRegistry: @unchecked Sendable {
    // @unchecked: `slots` and `metrics` are only touched under `lock`.
    struct Slot {
        var config: PluginConfig
        /// The mapped library (in-process plugins only).
        var library: PluginLibrary?
        var description: PluginDescription?
        var libraryIdentity: FileIdentity?
        var instance: (any PluginInstance)?
        var dispatcher: PluginDispatcher?
        var settings: JSONValue?
        var lastError: String?
        /// The configuration a refused change asked for: once the files ask for something else
        /// (the running settings again, say), the error is history and is cleared.
        var lastErrorFor: PluginConfig?
        var configError: String?
        var state: PluginStatus.State
        /// The supervision status when the worker was stopped (kept for a quarantined plugin).
        var lastWorkerStatus: WorkerStatus?
    }

    struct RoutingTable {
        var byType: [String: [PluginDispatcher]] = [:]
        var everything: [PluginDispatcher] = []

        func dispatchers(for type: String) -> [PluginDispatcher] {
            guard let typed = byType[type] else { return everything }
            return everything.isEmpty ? typed : typed + everything
        }
    }

    let services: PluginServices
    private let lock = NSLock()
    private var slots: [String: Slot] = [:]
    private var metrics: [String: PluginMetrics] = [:]
    private var unconfigured: [String] = []
    private var dispatchDefaults = HostConfig.DispatchDefaults()
    private var supervisionDefaults = SupervisionSettings()
    private let routing = Mutex(RoutingTable())
    private weak var observer: (any PluginLifecycleObserver)?

    public init(services: PluginServices) {
        self.services = services
    }

    /// Sets who is told about plugins starting and stopping (before the first `apply`).
    public func setObserver(_ observer: any PluginLifecycleObserver) {
        lock.withLock { self.observer = observer }
    }

    // MARK: - Routing

    /// Hands `event` to every running plugin subscribed to its type, waiting while a plugin's
    /// queue is full. Returns how many plugins took it.
    @discardableResult
    public func route(_ event: Event, except emitter: String? = nil) -> Int {
        let targets = routing.withLock { $0.dispatchers(for: event.type) }
        var delivered = 0
        for dispatcher in targets where dispatcher.name != emitter && dispatcher.submit(event) { delivered += 1 }
        return delivered
    }

    /// Waits until every running plugin has settled everything queued.
    public func drainAll() {
        let dispatchers = lock.withLock { slots.values.compactMap(\.dispatcher) }
        for dispatcher in dispatchers { dispatcher.drain() }
    }

    // MARK: - Applying configuration

    /// Brings the running plugins in line with `snapshot`. A plugin whose settings file is
    /// invalid keeps its last good configuration; a plugin that fails to load is marked failed
    /// and never affects the others.
    public func apply(_ snapshot: ConfigSnapshot) -> [PluginChange] {
        lock.lock()
        defer { lock.unlock() }
        dispatchDefaults = snapshot.host.dispatch
        supervisionDefaults = snapshot.host.supervision
        unconfigured = snapshot.unconfiguredLibraries.map { String($0.dropLast(3)) }
        var changes: [PluginChange] = []
        let names = Set(slots.keys).union(snapshot.plugins.keys).union(snapshot.pluginErrors.keys).sorted()
        for name in names {
            if let error = snapshot.pluginErrors[name] {
                slots[name, default: Slot(config: PluginConfig(name: name, enabled: false, libraryPath: ""), state: .disabled)].configError = error.description
                services.logger.error("plugin settings rejected, keeping the last good settings: \(error)", metadata: ["plugin": .string(name)])
                changes.append(PluginChange(plugin: name, action: .rejected, detail: error.description))
                continue
            }
            let desired = snapshot.plugins[name] ?? slots[name].map { var config = $0.config; config.enabled = false; return config }!
            changes.append(applyOne(desired))
            if snapshot.plugins[name] == nil, slots[name]?.state != .running {
                slots[name] = nil  // settings file removed: forget the plugin
                services.eventTypes.forget(plugin: name)
            }
        }
        rebuildRouting()
        return changes
    }

    private func applyOne(_ desired: PluginConfig) -> PluginChange {
        let name = desired.name
        var slot = slots[name] ?? Slot(config: desired, state: .disabled)
        slot.configError = nil
        defer { slots[name] = slot }

        guard desired.enabled else {
            slot.config = desired
            guard slot.state == .running else {
                let wasFailed = slot.state == .failed
                slot.state = .disabled
                slot.lastError = nil
                return PluginChange(plugin: name, action: wasFailed ? .stopped : .unchanged)
            }
            stopRunning(&slot)
            slot.state = .disabled
            services.logger.info("plugin disabled", metadata: ["plugin": .string(name)])
            return PluginChange(plugin: name, action: .stopped)
        }

        if slot.state == .running, let instance = slot.instance, let description = slot.description {
            if slot.config == desired && FileIdentity(path: desired.libraryPath) == slot.libraryIdentity {
                if let refused = slot.lastErrorFor, refused != desired {
                    slot.lastError = nil
                    slot.lastErrorFor = nil
                }
                return PluginChange(plugin: name, action: .unchanged)
            }
            var onlySettingsChanged = slot.config
            onlySettingsChanged.settings = desired.settings
            if onlySettingsChanged == desired && FileIdentity(path: desired.libraryPath) == slot.libraryIdentity {
                do {
                    let settings = try description.effectiveSettings(desired.settings, marks: desired.settingsMarks)
                    try instance.reconfigure(settings: settings)
                    slot.config = desired
                    slot.settings = settings
                    slot.lastError = nil
                    services.logger.info("plugin reconfigured", metadata: ["plugin": .string(name)])
                    return PluginChange(plugin: name, action: .reconfigured)
                } catch {
                    slot.lastError = error.description
                    slot.lastErrorFor = desired
                    services.logger.error("reconfigure refused, previous settings stay in force: \(error)", metadata: ["plugin": .string(name)])
                    return PluginChange(plugin: name, action: .failed, detail: error.description)
                }
            }
            var onlyLibraryChanged = slot.config
            onlyLibraryChanged.libraryPath = desired.libraryPath
            onlyLibraryChanged.sha256 = desired.sha256
            if onlyLibraryChanged == desired, let worker = instance as? WorkerPluginInstance {
                return upgrade(&slot, worker, to: desired)
            }
            // Anything else (library, subscriptions, lanes, attempts): start a new instance first,
            // and only then retire the old one, so a bad change leaves the plugin running.
            var candidate = slot
            candidate.config = desired
            do {
                try start(&candidate)
            } catch {
                slot.lastError = error.description
                slot.lastErrorFor = desired
                services.logger.error("restart refused, previous version stays in force: \(error)", metadata: ["plugin": .string(name)])
                return PluginChange(plugin: name, action: .failed, detail: error.description)
            }
            stopRunning(&slot)
            slot = candidate
            return PluginChange(plugin: name, action: .restarted)
        }

        if slot.state == .quarantined && slot.config == desired && FileIdentity(path: desired.libraryPath) == slot.libraryIdentity {
            // Only pluginctl restart (or a change of its configuration or library) ends quarantine.
            return PluginChange(plugin: name, action: .unchanged)
        }
        let wasDisabled = slot.state == .disabled && slots[name] != nil
        slot.config = desired
        do {
            try start(&slot, policy: wasDisabled ? desired.onEnable : .resume)
            return PluginChange(plugin: name, action: .started)
        } catch {
            slot.state = .failed
            slot.lastError = error.description
            services.logger.error("plugin failed to start: \(error)", metadata: ["plugin": .string(name)])
            return PluginChange(plugin: name, action: .failed, detail: error.description)
        }
    }

    /// Switches a worker-isolated plugin to a new library without stopping its dispatcher: the
    /// events queued for it stay queued and go to the new version.
    private func upgrade(_ slot: inout Slot, _ worker: WorkerPluginInstance, to desired: PluginConfig) -> PluginChange {
        let name = desired.name
        do {
            guard let description = try worker.upgrade(path: desired.libraryPath, sha256: desired.sha256, overrides: desired.settings, marks: desired.settingsMarks) else {
                slot.config = desired
                slot.libraryIdentity = FileIdentity(path: desired.libraryPath)
                return PluginChange(plugin: name, action: .unchanged, detail: "the same build already runs")
            }
            do { try services.eventTypes.define(description.manifest.eventTypes, for: name) } catch {
                services.logger.error("the upgraded version's event types are not used: \(error)", metadata: ["plugin": .string(name)])
            }
            let subscriptionsChanged = (slot.config.subscriptions ?? slot.description?.manifest.subscriptions) != (desired.subscriptions ?? description.manifest.subscriptions)
            slot.config = desired
            slot.description = description
            slot.libraryIdentity = FileIdentity(path: desired.libraryPath)
            slot.lastError = nil
            if subscriptionsChanged, let dispatcher = slot.dispatcher {
                observer?.pluginSubscriptionsChanged(name, dispatcher: dispatcher, subscriptions: desired.subscriptions ?? description.manifest.subscriptions)
            }
            return PluginChange(plugin: name, action: .upgraded, detail: "version \(description.manifest.version)")
        } catch {
            slot.lastError = error.description
            // The file on disk is not what runs: remember it so the same bad file is not retried
            // on every reload, while a newer file is.
            slot.libraryIdentity = FileIdentity(path: desired.libraryPath)
            services.logger.error("upgrade refused, the running version stays in force: \(error)", metadata: ["plugin": .string(name)])
            return PluginChange(plugin: name, action: .failed, detail: error.description)
        }
    }

    /// Creates the instance where the configuration says it runs.
    private func makeInstance(_ slot: inout Slot, context: PluginRuntimeContext) throws(PluginLoadError) -> any PluginInstance {
        let config = slot.config
        let identity = FileIdentity(path: config.libraryPath)
        switch config.isolation {
        case .process:
            let name = config.name
            let instance = try WorkerPluginInstance(
                name: name, path: config.libraryPath, sha256: config.sha256, overrides: config.settings, marks: config.settingsMarks, context: context, sink: services.emitted,
                supervision: supervisionDefaults.applying(config.supervision),
                onQuarantine: { [weak self] reason in self?.quarantine(name, reason: reason) })
            slot.description = instance.pluginDescription
            slot.library = nil
            slot.libraryIdentity = identity
            slot.settings = try instance.pluginDescription.effectiveSettings(config.settings, marks: config.settingsMarks)
            return instance
        case .inprocess:
            let library: PluginLibrary
            if let loaded = slot.library, loaded.path == config.libraryPath, identity == slot.libraryIdentity, config.sha256 == nil {
                library = loaded
            } else {
                library = try PluginLoader.load(path: config.libraryPath, sha256: config.sha256)
            }
            try PluginLoader.checkName(library.manifest.name, expected: config.name, path: config.libraryPath)
            let settings = try library.effectiveSettings(config.settings, marks: config.settingsMarks)
            let instance = try InProcessPluginInstance(library: library, settings: settings, context: context, sink: services.emitted)
            slot.library = library
            slot.description = library.description
            slot.libraryIdentity = identity
            slot.settings = settings
            return instance
        }
    }

    /// Loads the plugin, creates an instance and starts its dispatcher.
    private func start(_ slot: inout Slot, policy: PluginConfig.EnablePolicy = .resume) throws(PluginLoadError) {
        let config = slot.config
        let pluginMetrics = metrics[config.name] ?? PluginMetrics()
        metrics[config.name] = pluginMetrics
        let context = PluginRuntimeContext(
            name: config.name, logger: services.logger, metrics: pluginMetrics, store: services.store, clock: services.clock,
            eventTypes: services.eventTypes)
        let instance = try makeInstance(&slot, context: context)
        let manifest = instance.manifest
        do {
            try services.eventTypes.define(manifest.eventTypes, for: config.name)
        } catch {
            instance.shutdown()
            throw PluginLoadError(.eventTypeConflict, path: config.libraryPath, error.description)
        }
        let defaults = dispatchDefaults
        let onSettled = services.onSettled
        let name = config.name
        let dispatcher = PluginDispatcher(
            // With positions kept in the store (effectively-once), a partition's events must be
            // handled in offset order: one lane.
            name: name, instance: instance, laneCount: services.store.keepsOutbox ? 1 : config.lanes ?? defaults.lanes, capacity: defaults.queueCapacity,
            batchSize: defaults.batchSize,
            retry: RetryPolicy(
                maxAttempts: config.maxAttempts ?? defaults.maxAttempts, initialBackoffMilliseconds: defaults.backoffInitialMilliseconds,
                maxBackoffMilliseconds: defaults.backoffMaxMilliseconds),
            deadLetters: services.deadLetters, metrics: pluginMetrics, clock: services.clock, logger: context.logger,
            onSettled: onSettled.map { handler in { @Sendable event, settlement in handler(name, event, settlement) } },
            appliedStore: services.store)
        slot.instance = instance
        slot.dispatcher = dispatcher
        slot.state = .running
        slot.lastError = nil
        observer?.pluginStarted(name, dispatcher: dispatcher, subscriptions: config.subscriptions ?? manifest.subscriptions, policy: policy)
        services.logger.info(
            "plugin started",
            metadata: [
                "plugin": .string(name), "version": .string(manifest.version), "lanes": .stringConvertible(dispatcher.laneCount),
                "isolation": .string(config.isolation.rawValue),
            ])
    }

    /// Stops the dispatcher (the event in flight finishes) and releases the instance.
    private func stopRunning(_ slot: inout Slot) {
        if let dispatcher = slot.dispatcher {
            observer?.pluginStopping(slot.config.name, dispatcher: dispatcher)
            // Unroute first so nothing new is submitted, then stop.
            routing.withLock { table in
                table.everything.removeAll { $0 === dispatcher }
                for key in table.byType.keys { table.byType[key]!.removeAll { $0 === dispatcher } }
            }
            let abandoned = dispatcher.stop()
            if !abandoned.isEmpty {
                services.logger.info("\(abandoned.count) queued events not delivered: the plugin stopped", metadata: ["plugin": .string(slot.config.name)])
            }
        }
        slot.lastWorkerStatus = slot.instance?.supervisionStatus
        slot.instance?.shutdown()
        slot.instance = nil
        slot.dispatcher = nil
    }

    private func rebuildRouting() {
        var table = RoutingTable()
        for slot in slots.values.sorted(by: { $0.config.name < $1.config.name }) {
            guard slot.state == .running, let dispatcher = slot.dispatcher, let manifest = slot.description?.manifest else { continue }
            let subscriptions = slot.config.subscriptions ?? manifest.subscriptions
            if subscriptions.contains("*") {
                table.everything.append(dispatcher)
            } else {
                for type in subscriptions { table.byType[type, default: []].append(dispatcher) }
            }
        }
        routing.withLock { $0 = table }
    }

    // MARK: - Reading

    public func status() -> [PluginStatus] {
        lock.withLock {
            var list = slots.values.map { slot in
                PluginStatus(
                    name: slot.config.name, state: slot.state, enabled: slot.config.enabled, version: slot.description?.manifest.version,
                    library: slot.config.libraryPath, isolation: slot.config.isolation.rawValue,
                    subscriptions: slot.config.subscriptions ?? slot.description?.manifest.subscriptions ?? [],
                    lanes: slot.dispatcher?.laneCount ?? 0, lastError: slot.lastError, configError: slot.configError,
                    settings: slot.settings, metrics: (metrics[slot.config.name] ?? PluginMetrics()).snapshot(),
                    worker: slot.instance?.supervisionStatus ?? slot.lastWorkerStatus, settingsSchema: slot.description?.manifest.settingsSchema,
                    defaultSettings: slot.description?.manifest.defaultSettings)
            }
            for name in unconfigured where slots[name] == nil {
                list.append(
                    PluginStatus(
                        name: name, state: .unconfigured, enabled: false, version: nil, library: name + ".so", isolation: "process",
                        subscriptions: [], lanes: 0, lastError: nil, configError: nil, settings: nil, metrics: PluginMetrics().snapshot()))
            }
            return list.sorted { $0.name < $1.name }
        }
    }

    /// Runs a plugin query. Fails when the plugin is not running.
    public func query(plugin: String, name: String, request: [UInt8]) -> QueryResult {
        let instance = lock.withLock { slots[plugin]?.state == .running ? slots[plugin]?.instance : nil }
        guard let instance else { return .failed("plugin '\(plugin)' is not running") }
        return instance.query(name, request: request)
    }

    /// Stops a plugin whose worker kept crashing. Its queued events are abandoned (not
    /// committed: they are read again when it is restarted).
    func quarantine(_ name: String, reason: String) {
        lock.withLock {
            guard var slot = slots[name], slot.state == .running else { return }
            stopRunning(&slot)
            slot.state = .quarantined
            slot.lastError = "quarantined after repeated crashes; last: \(reason); run pluginctl restart \(name)"
            slots[name] = slot
            rebuildRouting()
        }
    }

    /// Starts a plugin again from scratch (a new worker, a fresh crash history): the way out of
    /// quarantine, and a way to recover a failed plugin after fixing its cause.
    public func restart(_ name: String) -> PluginChange {
        lock.lock()
        defer { lock.unlock() }
        guard var slot = slots[name] else { return PluginChange(plugin: name, action: .failed, detail: "no plugin named \(name)") }
        guard slot.config.enabled else { return PluginChange(plugin: name, action: .failed, detail: "\(name) is disabled; enable it instead") }
        // The checks that need no plugin code (trust, pin, ELF) come first: a library that
        // fails them must not cost the running worker.
        do {
            try PluginLoader.preflight(path: slot.config.libraryPath, sha256: slot.config.sha256)
        } catch {
            if slot.state != .running { slot.lastError = error.description; slots[name] = slot }
            return PluginChange(plugin: name, action: .failed, detail: "\(error.description)\(slot.state == .running ? " (the running instance is kept)" : "")")
        }
        if slot.state == .running { stopRunning(&slot) }
        defer {
            slots[name] = slot
            rebuildRouting()
        }
        do {
            try start(&slot, policy: .resume)
            services.logger.notice("plugin restarted by request", metadata: ["plugin": .string(name)])
            return PluginChange(plugin: name, action: .restarted)
        } catch {
            slot.state = .failed
            slot.lastError = error.description
            return PluginChange(plugin: name, action: .failed, detail: error.description)
        }
    }

    /// Stops every plugin; with `drain`, first waits until their queues are empty.
    public func stopAll(drain: Bool) {
        if drain { drainAll() }
        lock.withLock {
            for name in slots.keys.sorted() where slots[name]!.state == .running {
                stopRunning(&slots[name]!)
                slots[name]!.state = .disabled
            }
            routing.withLock { $0 = RoutingTable() }
        }
    }
}

/// Which file a path named when it was loaded: a replaced file (new inode or mtime) is a new plugin.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
    var modified: Int

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        modified = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }
}
