import Foundation
import Logging
import Synchronization

/// Routes the Kafka topics into plugins: one consumer group per plugin (`<prefix>.<plugin>`), so
/// each plugin's progress, lag and replay are its own and visible with standard Kafka tooling.
///
/// - An event's offset is committed for a plugin only after that plugin handled or
///   dead-lettered it (``PartitionProgress``); events of types it does not subscribe to are
///   skipped by their `pos.type` header without parsing.
/// - Disabling pauses the plugin's partitions (no rebalance); enabling resumes them after
///   seeking to the committed offsets (`on_enable: resume`, catching up on what was missed) or
///   to the end (`latest`, committing it so the skipped events stay skipped).
/// - A revoked partition commits what is done and drops what is still queued for it.
/// - A full plugin queue blocks the feed (bounded prefetch): backpressure, bounded memory.
/// - Malformed input is dead-lettered once, by the `<prefix>.ingress` group.
public final class KafkaEventBridge: PluginLifecycleObserver, @unchecked Sendable {
    // @unchecked: `feeds` is guarded by `lock`; each feed guards its own state.
    let settings: HostConfig.KafkaSettings
    let bootstrapServers: String
    let decoder: EventDecoder
    let deadLetters: any DeadLetterSink
    let clock: any HostClock
    let logger: Logger
    /// Where plugins' consumed positions are kept transactionally with their state, if anywhere.
    let positions: (any PositionStore)?
    private let lock = NSLock()
    private var feeds: [String: PluginFeed] = [:]
    /// Plugins running here that wait for their lease (several hosts share the database).
    private var standby: [String: (dispatcher: PluginDispatcher, subscriptions: [String], policy: PluginConfig.EnablePolicy)] = [:]
    private var ingress: IngressLoop?
    let ingressCounters = IngressTally()
    /// With several hosts on one database: which plugins this host consumes (nil: all).
    let ownership: PluginOwnership?
    /// Restarts a plugin's instance (set by the runtime): after it changes hands, so that no
    /// memory of the instance outlives writes another host made meanwhile.
    nonisolated(unsafe) var restartPlugin: (@Sendable (String) -> Void)?
    /// Drops the state store's cached reads of a plugin (set by the runtime): on acquiring and
    /// releasing its lease, since another host may write it meanwhile.
    nonisolated(unsafe) var forgetState: (@Sendable (String) -> Void)?
    /// Where plugins deliver in event-time order and take each other's emitted events in their
    /// causal place (ADR 14); nil when emitted events do not come back to the input topics.
    let causalLog: (any CausalLog)?
    /// Records that were being decoded when earlier runs of the host died (poison after three).
    let crashJournal: DecodeCrashJournal?
    /// Records decoded by one feed, for the others (decoding once per host).
    let decodedRecords = DecodedRecordCache()
    /// Feeds created while the host starts wait until every plugin of the startup is
    /// registered with the causal log, so the first ones do not run ahead of the others.
    private var heldFeeds: [PluginFeed]? = []

    public init(
        settings: HostConfig.KafkaSettings, bootstrapServers: String, decoder: EventDecoder, deadLetters: any DeadLetterSink, clock: any HostClock,
        logger: Logger, positions: (any PositionStore)? = nil, ownership: PluginOwnership? = nil, causalLog: (any CausalLog)? = nil,
        crashJournal: DecodeCrashJournal? = nil
    ) {
        self.crashJournal = crashJournal
        self.causalLog = causalLog
        self.ownership = ownership
        self.positions = positions
        self.settings = settings
        self.bootstrapServers = bootstrapServers
        self.decoder = decoder
        self.deadLetters = deadLetters
        self.clock = clock
        self.logger = logger
    }

    var consumerProperties: [String: String] {
        var properties = settings.properties
        properties["fetch.wait.max.ms"] = String(settings.fetchWaitMilliseconds)
        return properties
    }

    /// Starts the ingress group (dead-lettering malformed input, counting what arrives).
    public func start() throws {
        let feed = try IngressLoop(bridge: self)
        lock.withLock { ingress = feed }
        feed.start()
    }

    public func pluginStarted(_ name: String, dispatcher: PluginDispatcher, subscriptions: [String], policy: PluginConfig.EnablePolicy) {
        lock.lock()
        defer { lock.unlock() }
        do { try causalLog?.register(name, subscriptions: subscriptions, emits: dispatcher.instance.manifest.emits) } catch {
            logger.error("cannot register \(name) with the causal log: \(error)", metadata: ["plugin": .string(name)])
        }
        if let feed = feeds[name] {
            feed.attach(dispatcher, subscriptions: subscriptions, policy: policy)
            return
        }
        if let ownership, !ownership.holds(name) {
            standby[name] = (dispatcher, subscriptions, policy)
            ownership.want(name)
            return
        }
        startFeed(name, dispatcher: dispatcher, subscriptions: subscriptions)
    }

    /// Creates and starts a plugin's consumer; the caller holds `lock`.
    private func startFeed(_ name: String, dispatcher: PluginDispatcher, subscriptions: [String]) {
        do {
            let feed = try PluginFeed(name: name, bridge: self, dispatcher: dispatcher, subscriptions: subscriptions)
            feeds[name] = feed
            if heldFeeds != nil { heldFeeds!.append(feed) } else { feed.start() }
        } catch {
            logger.error("cannot start the Kafka consumer of \(name): \(error)", metadata: ["plugin": .string(name)])
        }
    }

    public func pluginStopping(_ name: String, dispatcher: PluginDispatcher) {
        let feed = lock.withLock { () -> PluginFeed? in
            if standby[name]?.dispatcher === dispatcher { standby[name] = nil }
            return feeds[name]
        }
        feed?.detach(dispatcher)
    }

    /// Starts the feeds held while the host started (every startup plugin is registered now).
    public func releaseHeldFeeds() {
        let held = lock.withLock { () -> [PluginFeed] in
            defer { heldFeeds = nil }
            return heldFeeds ?? []
        }
        for feed in held { feed.start() }
    }

    /// This host now holds `name`'s lease: start consuming it.
    func acquired(_ name: String) {
        lock.withLock {
            guard feeds[name] == nil else { return }
            guard let waiting = standby.removeValue(forKey: name) else {
                // Its instance is not running here (it failed to start, or was stopped meanwhile).
                ownership?.unwant(name)
                return
            }
            forgetState?(name)  // written elsewhere while it was not ours
            startFeed(name, dispatcher: waiting.dispatcher, subscriptions: waiting.subscriptions)
        }
    }

    /// This host no longer holds `name`: stop consuming it. On a handover the batch in flight
    /// finishes and commits first; on a lost lease nothing more is committed (another host may
    /// be writing). Then the instance restarts and waits for the lease again.
    func released(_ name: String, handover: Bool) {
        guard let feed = lock.withLock({ feeds.removeValue(forKey: name) }) else { return }
        feed.stopConsuming(handover: handover)
        forgetState?(name)
        restartPlugin?(name)
    }

    /// The plugins this host consumes (all of them without shared ownership).
    public func consumes(_ name: String) -> Bool { lock.withLock { feeds[name] != nil } }

    /// Whether a plugin's handling has passed some positions on this host.
    public enum SettledAnswer: Sendable, Equatable {
        /// Every event at or before each position is handled (or not for this plugin).
        case settled
        /// Some are still queued, in flight or not yet read.
        case pending
        /// This host does not consume the plugin, or not those partitions, right now.
        case notHere
    }

    /// Whether `plugin` has settled every offset up to each of `positions` here.
    public func settled(_ plugin: String, through positions: [(TopicPartition, Int64)]) -> SettledAnswer {
        guard let feed = lock.withLock({ feeds[plugin] }) else { return .notHere }
        var answer = SettledAnswer.settled
        for (partition, offset) in positions {
            switch feed.hasSettled(partition, through: offset) {
            case nil: return .notHere
            case false?: answer = .pending
            case true?: break
            }
        }
        return answer
    }

    public func pluginSubscriptionsChanged(_ name: String, dispatcher: PluginDispatcher, subscriptions: [String]) {
        let feed = lock.withLock { feeds[name] }
        feed?.subscribe(subscriptions)
        try? causalLog?.register(name, subscriptions: subscriptions, emits: dispatcher.instance.manifest.emits)
    }

    /// Called for every event a dispatcher settles.
    public func settled(_ plugin: String, _ event: Event, _ settlement: Settlement) {
        guard let feed = lock.withLock({ feeds[plugin] }) else { return }
        feed.ordering?.settled(event, settlement)
        guard settlement != .abandoned, let position = event.position else { return }
        feed.settle(position)
    }

    /// Waits until every feed (and the ingress group) has partitions assigned.
    public func waitUntilAssigned(timeoutSeconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while Date() < deadline {
            let all: [ConsumerLoop] = lock.withLock { Array(feeds.values) + (ingress.map { [$0] } ?? []) }
            if all.allSatisfy(\.isAssigned) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Consumer lag per plugin: events published but not yet committed for it (absent while
    /// unknown: no partitions yet, or no watermark seen for one of them).
    public func lag() -> [String: Int64] {
        let all = lock.withLock { feeds }
        return all.compactMapValues { $0.lag() }
    }

    /// Stops feeding plugins (for shutdown): what is queued is still handled and committed.
    public func pauseAll() {
        let all = lock.withLock { Array(feeds.values) }
        for feed in all { feed.pauseIntake() }
    }

    /// Stops every consumer after committing what is done.
    public func stop() {
        // Forget the feeds first: plugins stopped afterwards must not reach closed consumers.
        let (all, ingressFeed) = lock.withLock { () -> ([PluginFeed], IngressLoop?) in
            defer {
                feeds = [:]
                ingress = nil
            }
            return (Array(feeds.values), ingress)
        }
        for feed in all { feed.stop() }
        ingressFeed?.stop()
    }
}

/// Counters of what arrived on the bus (the ingress group's view).
final class IngressTally: Sendable {
    let received = Atomic<Int>(0)
    let malformed = Atomic<Int>(0)
    let deadLetterFailures = Atomic<Int>(0)
    let lastDeadLetterError = Mutex<String?>(nil)
    /// Dead letters refused and waiting for their next attempt.
    let deadLettersPending = Atomic<Int>(0)
}

/// The consumer loop shared by plugin feeds and the ingress feed.
class ConsumerLoop: @unchecked Sendable {
    // @unchecked: `progress` is guarded by its mutex; `consumer` is thread-safe except poll,
    // which only the loop thread calls.
    let consumer: KafkaConsumer
    let logger: Logger
    let progress = Mutex<[TopicPartition: PartitionProgress]>([:])
    /// Where the partitions being assigned start, when the plugin's positions are kept with its state.
    let startingPoints = Mutex<[TopicPartition: Int64]>([:])
    private let running = Atomic<Bool>(true)
    private let assigned = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var lastCommit = DispatchTime.now().uptimeNanoseconds
    private var lastEndQuery: UInt64 = 0
    /// End offsets asked of the broker while the consumer is paused: a paused partition is not
    /// fetched, so the cached watermarks stop moving and the lag of a disabled, failed or
    /// quarantined plugin would read 0 however far behind it falls.
    private let queriedEnds = Mutex<[TopicPartition: Int64]>([:])
    /// Where this loop marks the record it decodes (only its thread decodes).
    private var journalSlot: DecodeCrashJournal.Slot
    let crashJournal: DecodeCrashJournal?
    private let decodedRecords: DecodedRecordCache
    /// The rings of the partitions this loop has read (loop thread only).
    private var decodedRings: [TopicPartition: DecodedRecordCache.Ring] = [:]

    init(groupId: String, bridge: KafkaEventBridge, positionsOf plugin: String? = nil) throws {
        logger = bridge.logger
        crashJournal = bridge.crashJournal
        decodedRecords = bridge.decodedRecords
        journalSlot = bridge.crashJournal?.slot() ?? DecodeCrashJournal.Slot(base: nil)
        let callbacks = RebalanceTarget()
        let positions = bridge.positions
        let logger = bridge.logger
        consumer = try KafkaConsumer(
            bootstrapServers: bridge.bootstrapServers, groupId: groupId, topics: bridge.settings.topics, properties: bridge.consumerProperties,
            onAssign: { partitions in callbacks.loop?.assigned(partitions) }, onRevoke: { partitions in callbacks.loop?.revoked(partitions) },
            startingOffsets: { partitions in
                guard let plugin, let positions else { return [:] }
                do {
                    let stored = try positions.positions(plugin: plugin).filter { partitions.contains($0.key) }
                    callbacks.loop?.startingPoints.withLock { $0 = stored }
                    return stored
                } catch {
                    // Falling back to Kafka's offsets could apply events twice: say so loudly.
                    logger.critical("cannot read \(plugin)'s positions from the database, using the group's offsets: \(error)")
                    return [:]
                }
            })
        callbacks.loop = self
    }

    var isAssigned: Bool { assigned.load(ordering: .relaxed) }
    var isRunning: Bool { running.load(ordering: .relaxed) }

    func start() {
        Thread.detachNewThread { [self] in
            while isRunning {
                beforePoll()
                commitIfDue()
                refreshEndsIfPaused()
                do {
                    if let message = try consumer.poll(timeoutMilliseconds: pollTimeoutMilliseconds) { handle(message) }
                } catch {
                    logger.error("consumer \(consumer.groupId) failed: \(error)")
                    usleep(100_000)
                }
            }
            if commitOnStop.load(ordering: .sequentiallyConsistent) { commit(synchronous: true) }
            logger.debug("closing consumer \(consumer.groupId)")
            consumer.close()
            logger.debug("closed consumer \(consumer.groupId)")
            finished.signal()
        }
    }

    /// Whether the loop commits settled offsets when it stops.
    let commitOnStop = Atomic<Bool>(true)

    func stop() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        finished.wait()
    }

    /// Hooks for subclasses.
    func beforePoll() {}
    var pollTimeoutMilliseconds: Int32 { 100 }
    /// Whether the consumer's partitions are paused (then lag uses end offsets asked of the broker).
    var isPaused: Bool { false }

    /// Once a second while paused, on the loop thread (never in a status request): the end
    /// offsets of the assigned partitions, from the broker.
    private func refreshEndsIfPaused() {
        guard isPaused else {
            queriedEnds.withLock { if !$0.isEmpty { $0 = [:] } }
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastEndQuery > 1_000_000_000 else { return }
        lastEndQuery = now
        let partitions = progress.withLock { Array($0.keys) }
        let ends = consumer.endOffsets(partitions, timeoutMilliseconds: 500)
        queriedEnds.withLock { $0 = ends }
    }
    func handle(_ message: KafkaMessage) {}

    /// How many starts in a row found `message` being decoded when the host died, once that
    /// makes it poison (``DecodeCrashJournal``): then it must not be decoded again.
    func poisonCrashes(_ message: KafkaMessage) -> Int? {
        crashJournal?.crashes(message.topic, message.partition, message.offset)
    }

    /// Decodes `message` with its record marked in the crash journal meanwhile.
    /// (Once per host: the other feeds take the result from ``DecodedRecordCache``.)
    func decodeMarked(_ message: KafkaMessage, with decoder: EventDecoder) throws(EventDecoder.Rejection) -> Event {
        let partition = TopicPartition(topic: message.topic, partition: message.partition)
        let ring = decodedRings[partition] ?? decodedRecords.ring(partition)
        decodedRings[partition] = ring
        return try ring.decoded(message.offset, message.value) { () throws(EventDecoder.Rejection) -> Event in
            journalSlot.begin(message.topic, message.partition, message.offset)
            defer { journalSlot.end() }
            FaultInjection.trapIfMarked(message.value)
            return try decoder.decode(message.value)
        }
    }

    func assigned(_ partitions: [TopicPartition]) {
        let starts = startingPoints.withLock { points in
            defer { points = [:] }
            return points
        }
        progress.withLock { table in
            for partition in partitions where table[partition] == nil {
                var fresh = PartitionProgress()
                if let start = starts[partition] { fresh.start(at: start) }
                table[partition] = fresh
            }
        }
        assigned.store(true, ordering: .relaxed)
        logger.debug("partitions assigned to \(consumer.groupId): \(partitions)")
    }

    func revoked(_ partitions: [TopicPartition]) {
        commit(synchronous: true, only: Set(partitions))
        progress.withLock { table in for partition in partitions { table[partition] = nil } }
        logger.debug("partitions revoked from \(consumer.groupId): \(partitions)")
    }

    func read(_ message: KafkaMessage) {
        let partition = TopicPartition(topic: message.topic, partition: message.partition)
        progress.withLock { $0[partition, default: PartitionProgress()].read(message.offset) }
    }

    func settle(_ position: EventPosition) {
        let partition = TopicPartition(topic: position.topic, partition: position.partition)
        progress.withLock { table in
            if table[partition] != nil { table[partition]!.settle(position.offset) }
        }
    }

    private func commitIfDue() {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastCommit > 50_000_000 else { return }
        lastCommit = now
        commit(synchronous: false)
    }

    /// Commits the committable offset of each partition that moved.
    func commit(synchronous: Bool, only: Set<TopicPartition>? = nil) {
        let offsets = progress.withLock { table -> [TopicPartition: Int64] in
            var due: [TopicPartition: Int64] = [:]
            for (partition, state) in table where only?.contains(partition) ?? true {
                if let offset = state.committable, offset > state.committed {
                    due[partition] = offset
                    table[partition]!.committed = offset
                }
            }
            return due
        }
        do { try consumer.commit(offsets, synchronous: synchronous) } catch { logger.warning("commit failed: \(error)") }
    }

    /// Whether every offset of `partition` up to `offset` is read and settled; nil when this
    /// loop does not hold the partition.
    func hasSettled(_ partition: TopicPartition, through offset: Int64) -> Bool? {
        progress.withLock { table in
            guard let state = table[partition] else { return nil }
            if let open = state.inFlight.min(), open <= offset { return false }
            return state.highestRead >= offset || state.committed > offset
        }
    }

    /// Events published but not committed, summed over the assigned partitions, from the
    /// watermarks the consumer last saw (no broker round trip: status must not block).
    func lag() -> Int64? {
        let partitions = progress.withLock { $0 }
        guard !partitions.isEmpty else { return nil }
        let cached = consumer.cachedEndOffsets(Array(partitions.keys))
        let queried = queriedEnds.withLock { $0 }
        var total: Int64 = 0
        for (partition, state) in partitions {
            guard let end = [cached[partition], queried[partition]].compactMap({ $0 }).max() else { return nil }
            total += max(0, end - max(state.committed, 0))
        }
        return total
    }
}

/// Lets the rebalance callbacks, created before the loop object exists, reach it.
final class RebalanceTarget: @unchecked Sendable {
    weak var loop: ConsumerLoop?
}

/// One plugin's consumer group feeding its dispatcher.
final class PluginFeed: ConsumerLoop, @unchecked Sendable {
    let name: String
    let decoder: EventDecoder
    private let state = Mutex<(dispatcher: PluginDispatcher?, subscriptions: Set<String>, pendingSeek: PluginConfig.EnablePolicy?)>((nil, [], nil))
    /// Set for shutdown: messages still arriving are left uncommitted (read again next start).
    private let intakeStopped = Atomic<Bool>(false)
    /// Event-time order and causal delivery (nil: partition order, emitted events as they arrive).
    let ordering: CausalOrdering?
    private var lastOrderingWarning: UInt64 = 0
    /// Every partition of the input topics: the merge waits for those not assigned here yet
    /// (right after a restart the group may hand out only some while a dead member's
    /// session runs out), instead of ordering without them.
    private var topicPartitions: [TopicPartition]?
    private let topics: [String]
    private var lastTopicQuery: UInt64 = 0

    init(name: String, bridge: KafkaEventBridge, dispatcher: PluginDispatcher, subscriptions: [String]) throws {
        self.name = name
        ordering = bridge.causalLog.map { CausalOrdering(plugin: name, log: $0) }
        topics = bridge.settings.topics
        decoder = bridge.decoder
        try super.init(groupId: "\(bridge.settings.groupPrefix).\(name)", bridge: bridge, positionsOf: name)
        state.withLock { $0 = (dispatcher, Set(subscriptions), nil) }
    }

    func attach(_ dispatcher: PluginDispatcher, subscriptions: [String], policy: PluginConfig.EnablePolicy) {
        state.withLock { $0 = (dispatcher, Set(subscriptions), policy) }
    }

    /// Takes other event types from now on (messages already read were judged by the old list).
    func subscribe(_ subscriptions: [String]) {
        state.withLock { $0.subscriptions = Set(subscriptions) }
    }

    /// Stops this feed for good when its plugin changes hands: queued events are dropped (the
    /// next owner reads them from the stored positions); on a handover the batch in flight
    /// finishes and the settled offsets are committed, on a lost lease nothing is.
    func stopConsuming(handover: Bool) {
        intakeStopped.store(true, ordering: .sequentiallyConsistent)
        let dispatcher = state.withLock { $0.dispatcher }
        dispatcher?.refuseAndDiscardAll()
        if handover { dispatcher?.awaitInFlight() } else { commitOnStop.store(false, ordering: .sequentiallyConsistent) }
        stop()
    }

    /// Stops submitting (for shutdown), keeping the dispatcher so settlements still commit.
    func pauseIntake() {
        intakeStopped.store(true, ordering: .sequentiallyConsistent)
        consumer.pause(consumer.assignment())
    }

    func detach(_ dispatcher: PluginDispatcher) {
        let detached = state.withLock { current -> Bool in
            guard current.dispatcher === dispatcher else { return false }
            current.dispatcher = nil
            return true
        }
        if detached { consumer.pause(consumer.assignment()) }
    }

    override func assigned(_ partitions: [TopicPartition]) {
        super.assigned(partitions)
        if ordering != nil {
            // Where each partition starts, so that one with nothing new counts as caught up
            // before anything was read from it (the consumer's position is unknown until then).
            let unknown = progress.withLock { table in partitions.filter { (table[$0]?.highestRead ?? -1) < 0 } }
            let committed = (try? consumer.committed(unknown)) ?? [:]
            progress.withLock { table in for (partition, offset) in committed { table[partition]?.start(at: offset) } }
        }
        if state.withLock({ $0.dispatcher == nil }) { consumer.pause(partitions) }
    }

    override func revoked(_ partitions: [TopicPartition]) {
        let dispatcher = state.withLock { $0.dispatcher }
        let revoked = Set(partitions)
        ordering?.revoked(revoked)
        let dropped = dispatcher?.discard { event in
            event.position.map { revoked.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) } ?? false
        } ?? 0
        if dropped > 0 { logger.info("\(dropped) queued events dropped: their partitions moved to another host", metadata: ["plugin": .string(name)]) }
        // The batch in flight commits its positions before anyone (this host, on reassignment,
        // or the next owner) reads them to decide where to start.
        dispatcher?.awaitInFlight()
        super.revoked(partitions)
    }

    override var isPaused: Bool { state.withLock { $0.dispatcher == nil } || intakeStopped.load(ordering: .relaxed) }

    override var pollTimeoutMilliseconds: Int32 { ordering?.pollTimeoutMilliseconds ?? 100 }

    override func beforePoll() {
        reposition()
        pump()
    }

    /// Releases what the ordering allows and publishes this plugin's progress.
    private func pump() {
        guard let ordering else { return }
        let (dispatcher, subscriptions) = state.withLock { ($0.dispatcher, $0.subscriptions) }
        let read = progress.withLock { table in table.mapValues { max($0.highestRead + 1, $0.committed, 0) } }
        if topicPartitions == nil, DispatchTime.now().uptimeNanoseconds - lastTopicQuery > 1_000_000_000 {
            lastTopicQuery = DispatchTime.now().uptimeNanoseconds
            topicPartitions = consumer.allPartitions(of: topics)
        }
        let assigned = topicPartitions.map { all in all + read.keys.filter { !all.contains($0) } } ?? Array(read.keys)
        let probe = CaughtUpProbe(consumer: consumer, read: read)
        if let dispatcher, !intakeStopped.load(ordering: .sequentiallyConsistent) {
            ordering.pump(
                assigned: assigned, read: read, isCaughtUp: probe.isCaughtUp, wants: { subscriptions.contains("*") || subscriptions.contains($0) },
                submit: { dispatcher.submit($0) })
        }
        ordering.publish(attached: dispatcher != nil, assigned: assigned, read: read, isCaughtUp: probe.isCaughtUp)
        if let failure = ordering.lastError {
            ordering.lastError = nil
            let now = DispatchTime.now().uptimeNanoseconds
            if now - lastOrderingWarning > 5_000_000_000 {
                lastOrderingWarning = now
                logger.warning("cannot read the causal log, waiting: \(failure)", metadata: ["plugin": .string(name)])
            }
        }
    }

    /// Repositions after a (re)enable, on the loop thread: everything still open is abandoned.
    private func reposition() {
        guard let policy = state.withLock({ current -> PluginConfig.EnablePolicy? in
            defer { current.pendingSeek = nil }
            return current.pendingSeek
        }) else { return }
        ordering?.reset()
        let partitions = consumer.assignment()
        do {
            var targets: [TopicPartition: Int64]
            switch policy {
            case .resume:
                let committed = try consumer.committed(partitions)
                targets = Dictionary(uniqueKeysWithValues: partitions.map { ($0, committed[$0] ?? KafkaOffsets.beginning) })
            case .latest:
                targets = consumer.endOffsets(partitions)
            }
            progress.withLock { table in
                for partition in partitions {
                    var fresh = PartitionProgress()
                    fresh.committed = table[partition]?.committed ?? -1
                    table[partition] = fresh
                }
            }
            try consumer.seek(targets)
            if policy == .latest {
                try consumer.commit(targets.filter { $0.value >= 0 }, synchronous: true)
                progress.withLock { table in for (partition, offset) in targets where offset >= 0 { table[partition]?.committed = offset } }
            }
        } catch {
            logger.error("repositioning \(name) after enable failed: \(error)", metadata: ["plugin": .string(name)])
        }
        consumer.resume(partitions)
        logger.info("consuming again (\(policy.rawValue))", metadata: ["plugin": .string(name)])
    }

    override func handle(_ message: KafkaMessage) {
        let (dispatcher, subscriptions) = state.withLock { ($0.dispatcher, $0.subscriptions) }
        // Read just before a pause (disable or shutdown): not settled, so it is read again.
        guard let dispatcher, !intakeStopped.load(ordering: .sequentiallyConsistent) else { return }
        read(message)
        let position = EventPosition(topic: message.topic, partition: message.partition, offset: message.offset)
        let wants = { (type: String) in subscriptions.contains("*") || subscriptions.contains(type) }
        if let header = message.headers[EventHeaders.type], let type = String(validating: header, as: UTF8.self),
            decoder.catalogType(for: type).map(wants) == false
        {
            settle(position)
            return
        }
        // With causal delivery, events plugins emitted are taken from the causal log in their
        // place; the copies the relay published on the topic are for outside consumers.
        if ordering != nil, message.headers[EventHeaders.source].map({ $0.starts(with: Array("plugin:".utf8)) }) == true {
            settle(position)
            return
        }
        if let crashes = poisonCrashes(message) {
            logger.error("skipping \(message.topic)/\(message.partition)@\(message.offset): it was being decoded when the host died \(crashes) times in a row (the ingress dead-letters it)", metadata: ["plugin": .string(name)])
            settle(position)
            return
        }
        guard var event = try? decodeMarked(message, with: decoder), wants(event.type) else {
            settle(position)  // malformed (the ingress group dead-letters it) or not for this plugin
            return
        }
        event.position = position
        if let key = message.key, event.key.isEmpty { event.key = String(decoding: key, as: UTF8.self) }
        if let ordering {
            if event.source?.hasPrefix("plugin:") == true {
                settle(position)
                return
            }
            ordering.add(event, from: TopicPartition(topic: message.topic, partition: message.partition))
            pump()
            return
        }
        // false when the plugin is stopping: the offset stays open and is read again on resume.
        _ = dispatcher.submit(event)
    }
}

/// Whether a partition has been read up to its high watermark (as last fetched), asked at
/// most once per partition per pump.
final class CaughtUpProbe {
    let consumer: KafkaConsumer
    /// How far the feed has read (the fallback before the consumer has a position).
    let read: [TopicPartition: Int64]
    private var known: [TopicPartition: Bool] = [:]

    init(consumer: KafkaConsumer, read: [TopicPartition: Int64]) {
        self.consumer = consumer
        self.read = read
    }

    func isCaughtUp(_ partition: TopicPartition) -> Bool {
        if let answer = known[partition] { return answer }
        var answer = false
        if let end = consumer.cachedEndOffsets([partition])[partition], let position = consumer.positions([partition])[partition] ?? read[partition] {
            answer = position >= end
        }
        known[partition] = answer
        return answer
    }
}

/// The `<prefix>.ingress` group: counts what arrives and dead-letters malformed input once.
///
/// A dead letter the sink refuses is kept, its partition paused, and retried with backoff
/// (50 ms doubling to 30 s) for as long as it takes, counted and shown in `pluginctl status`;
/// its offset stays open meanwhile, so nothing is committed past it and nothing after it on
/// that partition is read (and so dead-lettered twice after a restart).
final class IngressLoop: ConsumerLoop, @unchecked Sendable {
    let decoder: EventDecoder
    let deadLetters: any DeadLetterSink
    let clock: any HostClock
    let tally: IngressTally
    /// Dead letters not written yet, oldest first, with when to try again (loop thread only).
    private var pending: [(record: DeadLetterRecord, partition: TopicPartition, position: EventPosition)] = []
    private var retryAt: UInt64 = 0
    private var retryDelay: UInt64 = 50_000_000

    init(bridge: KafkaEventBridge) throws {
        decoder = bridge.decoder
        deadLetters = bridge.deadLetters
        clock = bridge.clock
        tally = bridge.ingressCounters
        try super.init(groupId: "\(bridge.settings.groupPrefix).ingress", bridge: bridge)
    }

    override func handle(_ message: KafkaMessage) {
        read(message)
        let position = EventPosition(topic: message.topic, partition: message.partition, offset: message.offset)
        let origin = "\(message.topic)/\(message.partition)@\(message.offset)"
        tally.received.wrappingAdd(1, ordering: .relaxed)
        let reason: String
        if let crashes = poisonCrashes(message) {
            reason = "crashed the host: it was being decoded when the host died \(crashes) times in a row"
        } else {
            do {
                _ = try decodeMarked(message, with: decoder)
                settle(position)
                return
            } catch {
                reason = error.reason
            }
        }
        tally.malformed.wrappingAdd(1, ordering: .relaxed)
        logger.warning("malformed input dead-lettered: \(reason)", metadata: ["origin": .string(origin)])
        var record = DeadLetterRecord(malformed: message.value, error: reason, origin: origin, position: position, timeMilliseconds: clock.nowMilliseconds())
        // The dead letter keeps the record's key, so re-publishing it lands in the same partition.
        record.eventKey = message.key.flatMap { String(validating: $0, as: UTF8.self) }
        let partition = TopicPartition(topic: message.topic, partition: message.partition)
        if pending.contains(where: { $0.partition == partition }) {
            pending.append((record, partition, position))  // read before the pause took effect: keeps its turn
            return
        }
        do {
            try deadLetters.deadLetter(record)
            settle(position)
        } catch {
            refused(origin, error)
            pending.append((record, partition, position))
            consumer.pause([partition])
            retryDelay = 50_000_000
            retryAt = DispatchTime.now().uptimeNanoseconds + retryDelay
            tally.deadLettersPending.store(pending.count, ordering: .relaxed)
        }
    }

    private func refused(_ origin: String, _ error: any Error) {
        tally.deadLetterFailures.wrappingAdd(1, ordering: .relaxed)
        tally.lastDeadLetterError.withLock { $0 = "\(origin): \(error)" }
        logger.error("dead letter for \(origin) could not be written, retrying: \(error)")
    }

    /// Retries the pending dead letters in order when due; resumes a partition once all of its
    /// dead letters are written.
    override func beforePoll() {
        guard !pending.isEmpty, DispatchTime.now().uptimeNanoseconds >= retryAt else { return }
        while let first = pending.first {
            do {
                try deadLetters.deadLetter(first.record)
            } catch {
                refused(first.record.origin ?? "-", error)
                retryDelay = min(retryDelay * 2, 30_000_000_000)
                retryAt = DispatchTime.now().uptimeNanoseconds + retryDelay
                break
            }
            pending.removeFirst()
            settle(first.position)
            logger.notice("dead letter for \(first.record.origin ?? "-") written after retrying")
            if !pending.contains(where: { $0.partition == first.partition }) { consumer.resume([first.partition]) }
        }
        tally.deadLettersPending.store(pending.count, ordering: .relaxed)
    }

    override var pollTimeoutMilliseconds: Int32 { pending.isEmpty ? 100 : 20 }

    /// A revoked partition's pending dead letters are another member's now.
    override func revoked(_ partitions: [TopicPartition]) {
        pending.removeAll { partitions.contains($0.partition) }
        tally.deadLettersPending.store(pending.count, ordering: .relaxed)
        super.revoked(partitions)
    }
}
