import Foundation
import Logging
import Synchronization

/// What finally happened to an event routed to a plugin (what the Kafka bridge commits on).
public enum Settlement: Sendable, Equatable {
    /// The plugin handled it.
    case handled
    /// It went to the dead-letter sink.
    case deadLettered
    /// It was queued but not handled: the plugin was disabled or the host stopped first.
    case abandoned
    /// A re-delivery of an event the plugin had already applied: skipped, not applied twice.
    case duplicate
}

/// Feeds one plugin from a bounded queue per lane.
///
/// - Ordering: an event's lane is chosen by its key, and a lane handles one batch at a time,
///   in order, so events with the same key are handled in order. Different lanes run in
///   parallel only for plugins that declared concurrent keys (otherwise there is one lane).
/// - Backpressure: `submit` waits while the event's lane is full.
/// - Failures: "retry" is retried in place with exponential backoff and jitter (later events of
///   the same lane wait, which preserves per-key order) until `maxAttempts`, then dead-lettered;
///   "reject" is dead-lettered at once.
/// - Stopping: `stop()` lets the event in flight finish and hands back everything else.
///
/// Lanes are dedicated threads, not Swift tasks: plugin calls are blocking foreign calls that
/// may take long, and must not starve the cooperative pool (see docs/adr/0003-dispatch-threads.md).
public final class PluginDispatcher: @unchecked Sendable {
    // @unchecked: mutable state lives in `Lane`, guarded by each lane's condition lock.
    public let name: String
    public let instance: any PluginInstance
    let retry: RetryPolicy
    let batchSize: Int
    let deadLetters: any DeadLetterSink
    let metrics: PluginMetrics
    let clock: any HostClock
    let logger: Logger
    let onSettled: (@Sendable (Event, Settlement) -> Void)?
    /// Where applied event ids are remembered (exactly-once as a consumer); nil: no check.
    let appliedStore: (any StateStore)?
    private let lanes: [Lane]
    private let stopping = Atomic<Bool>(false)

    public init(
        name: String, instance: any PluginInstance, laneCount: Int, capacity: Int, batchSize: Int, retry: RetryPolicy,
        deadLetters: any DeadLetterSink, metrics: PluginMetrics, clock: any HostClock, logger: Logger,
        onSettled: (@Sendable (Event, Settlement) -> Void)? = nil, appliedStore: (any StateStore)? = nil
    ) {
        self.appliedStore = appliedStore
        self.name = name
        self.instance = instance
        self.retry = retry
        self.batchSize = max(1, batchSize)
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
        self.onSettled = onSettled
        let count = instance.manifest.concurrentKeys ? max(1, laneCount) : 1
        let perLane = max(1, capacity / count)
        lanes = (0..<count).map { Lane(index: $0, capacity: perLane) }
        for lane in lanes {
            let thread = Thread { [self] in self.run(lane) }
            lane.thread = thread
            thread.start()
        }
    }

    public var laneCount: Int { lanes.count }

    /// Queues `event`, waiting while its lane is full. Returns false (and queues nothing) once
    /// the dispatcher is stopping.
    @discardableResult
    public func submit(_ event: Event) -> Bool {
        let lane = lanes.count == 1 ? lanes[0] : lanes[Int(Self.stableHash(event.key) % UInt64(lanes.count))]
        lane.condition.lock()
        defer { lane.condition.unlock() }
        while lane.queue.count >= lane.capacity && !lane.stopping && !lane.refusing { lane.condition.wait() }
        guard !lane.stopping && !lane.refusing else { return false }
        lane.queue.append(event)
        metrics.received.wrappingAdd(1, ordering: .relaxed)
        metrics.queueDepth.wrappingAdd(1, ordering: .relaxed)
        lane.condition.broadcast()
        return true
    }

    /// Removes queued (not yet started) events matching `predicate` without settling them: for
    /// partitions this host no longer owns, whose events another member will now handle.
    @discardableResult
    public func discard(where predicate: (Event) -> Bool) -> Int {
        var removed = 0
        for lane in lanes {
            lane.condition.lock()
            removed += lane.queue.removeAll(where: predicate)
            lane.condition.broadcast()
            lane.condition.unlock()
        }
        metrics.queueDepth.wrappingSubtract(removed, ordering: .relaxed)
        return removed
    }

    /// Takes no more events and drops every queued one (without settling them): when the plugin
    /// changes hands, so that a submit blocked on a full queue cannot slip an event in after
    /// the ones before it were dropped (its position would then skip them).
    @discardableResult
    public func refuseAndDiscardAll() -> Int {
        var removed = 0
        for lane in lanes {
            lane.condition.lock()
            lane.refusing = true
            removed += lane.queue.drainAll().count
            lane.condition.broadcast()
            lane.condition.unlock()
        }
        metrics.queueDepth.wrappingSubtract(removed, ordering: .relaxed)
        return removed
    }

    /// Waits until no lane is in the middle of a batch (queued events may remain).
    public func awaitInFlight() {
        for lane in lanes {
            lane.condition.lock()
            while lane.busy && !lane.stopping { lane.condition.wait() }
            lane.condition.unlock()
        }
    }

    /// Waits until every queued event has been settled.
    public func drain() {
        for lane in lanes {
            lane.condition.lock()
            while (!lane.queue.isEmpty || lane.busy) && !lane.stopping { lane.condition.wait() }
            lane.condition.unlock()
        }
    }

    /// Stops taking events, lets the events in flight finish, and returns (and reports as
    /// abandoned) everything that was queued but not handled. Idempotent.
    @discardableResult
    public func stop() -> [Event] {
        stopping.store(true, ordering: .sequentiallyConsistent)
        for lane in lanes {
            lane.condition.lock()
            lane.stopping = true
            lane.condition.broadcast()
            lane.condition.unlock()
        }
        var abandoned: [Event] = []
        for lane in lanes {
            lane.finished.wait()
            lane.finished.signal()  // keep it signalled for a second stop()
            lane.condition.lock()
            // Oldest first: what the lane had taken, then what was still queued.
            abandoned.append(contentsOf: lane.unfinished)
            abandoned.append(contentsOf: lane.queue.drainAll())
            lane.unfinished = []
            lane.condition.unlock()
        }
        for event in abandoned { settle(event, .abandoned) }
        return abandoned
    }

    // MARK: - Lane loop

    final class Lane: @unchecked Sendable {
        let index: Int
        let capacity: Int
        let condition = NSCondition()
        var queue = EventQueue()
        var busy = false
        var stopping = false
        /// Set when the plugin changes hands: submits are refused, the lane finishes its batch.
        var refusing = false
        /// Events taken from the queue but not settled when the lane stopped.
        var unfinished: [Event] = []
        let finished = DispatchSemaphore(value: 0)
        var thread: Thread?

        init(index: Int, capacity: Int) {
            self.index = index
            self.capacity = capacity
        }
    }

    private func run(_ lane: Lane) {
        var random = SystemRandomNumberGenerator()
        while true {
            lane.condition.lock()
            while lane.queue.isEmpty && !lane.stopping { lane.condition.wait() }
            if lane.stopping {
                lane.condition.unlock()
                break
            }
            let batch = lane.queue.removeFirst(upTo: batchSize)
            lane.busy = true
            lane.condition.broadcast()  // room for producers
            lane.condition.unlock()

            let leftover = process(batch, lane: lane, random: &random)

            lane.condition.lock()
            lane.busy = false
            lane.unfinished.append(contentsOf: leftover)
            lane.condition.broadcast()
            lane.condition.unlock()
        }
        lane.finished.signal()
    }

    /// Handles a batch; returns the events it did not settle because the dispatcher is stopping.
    private func process(_ taken: [Event], lane: Lane, random: inout SystemRandomNumberGenerator) -> [Event] {
        guard let batch = withoutDuplicates(taken, lane: lane) else { return taken }
        var attempts = [Int](repeating: 1, count: batch.count)
        var next = 0
        while next < batch.count {
            if stopping.load(ordering: .relaxed) { return Array(batch[next...]) }
            let reports = instance.handle(batch[next...], attempts: attempts[next...]) { self.stopping.load(ordering: .relaxed) }
            if reports.isEmpty { return Array(batch[next...]) }
            for report in reports {
                let event = batch[next]
                metrics.latency.record(nanoseconds: report.nanoseconds)
                switch report.outcome {
                case .handled:
                    metrics.handled.wrappingAdd(1, ordering: .relaxed)
                    settle(event, .handled)
                    next += 1
                case .reject(let reason):
                    metrics.failed.wrappingAdd(1, ordering: .relaxed)
                    logger.warning("event rejected as poison", metadata: ["event_id": .string(event.id), "type": .string(event.type), "error": .string(reason)])
                    deadLetter(event, reason: .rejected, error: reason, attempts: attempts[next])
                    next += 1
                case .unavailable(let reason, let wait):
                    logger.trace("plugin unavailable, waiting \(wait) ms", metadata: ["reason": .string(reason)])
                    if !sleep(milliseconds: min(max(wait, 1), 1_000), on: lane) { return Array(batch[next...]) }
                case .retry(let reason):
                    metrics.failed.wrappingAdd(1, ordering: .relaxed)
                    if attempts[next] >= retry.maxAttempts {
                        logger.warning("event dead-lettered after \(attempts[next]) attempts", metadata: ["event_id": .string(event.id), "error": .string(reason)])
                        deadLetter(event, reason: .retriesExhausted, error: reason, attempts: attempts[next])
                        next += 1
                    } else {
                        metrics.retried.wrappingAdd(1, ordering: .relaxed)
                        let delay = retry.backoffMilliseconds(afterAttempt: attempts[next], using: &random)
                        logger.debug("retrying in \(delay) ms", metadata: ["event_id": .string(event.id), "attempt": .stringConvertible(attempts[next]), "error": .string(reason)])
                        attempts[next] += 1
                        if !sleep(milliseconds: delay, on: lane) { return Array(batch[next...]) }
                    }
                }
            }
        }
        return []
    }

    /// The batch less the events the plugin already applied (by id, as the store remembers
    /// them, or repeated within the batch), which are settled as duplicates with their positions
    /// stored, so the stored positions never fall behind the committed offsets. Nil when the
    /// dispatcher stopped while the store was unavailable.
    private func withoutDuplicates(_ batch: [Event], lane: Lane) -> [Event]? {
        guard let store = appliedStore else { return batch }
        while true {
            do {
                let known = try store.appliedEvents(plugin: name, among: batch.map(\.id))
                var seen = Set<String>()
                var kept: [Event] = []
                var skipped: [Event] = []
                for event in batch {
                    if known.contains(event.id) || !seen.insert(event.id).inserted { skipped.append(event) } else { kept.append(event) }
                }
                guard !skipped.isEmpty else { return batch }
                // A skipped event's position is stored now only when no kept event of its
                // partition comes before it in this batch: otherwise a crash between this commit
                // and theirs would skip them. (Those are re-read and skipped again instead.)
                var firstKept: [TopicPartition: Int64] = [:]
                for event in kept {
                    guard let position = event.position else { continue }
                    let partition = TopicPartition(topic: position.topic, partition: position.partition)
                    firstKept[partition] = min(firstKept[partition] ?? .max, position.offset)
                }
                var commit = StateCommit()
                for event in skipped {
                    guard let position = event.position else { continue }
                    if position.offset < firstKept[TopicPartition(topic: position.topic, partition: position.partition)] ?? .max {
                        commit.add(writes: [:], emitted: [], position: position)
                    }
                }
                if store.keepsOutbox && !commit.positions.isEmpty { try store.commit(plugin: name, commit) }
                for event in skipped {
                    metrics.duplicates.wrappingAdd(1, ordering: .relaxed)
                    logger.debug("duplicate skipped", metadata: ["event_id": .string(event.id), "type": .string(event.type)])
                    settle(event, .duplicate)
                }
                return kept
            } catch {
                logger.warning("state store unavailable, waiting (checking for duplicates): \(error)")
                if !sleep(milliseconds: 500, on: lane) { return nil }
            }
        }
    }

    /// Sleeps unless the dispatcher starts stopping; returns false when it was interrupted.
    private func sleep(milliseconds: Int, on lane: Lane) -> Bool {
        guard milliseconds > 0 else { return !stopping.load(ordering: .relaxed) }
        let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
        lane.condition.lock()
        defer { lane.condition.unlock() }
        while !lane.stopping {
            if !lane.condition.wait(until: deadline) { return !lane.stopping }
        }
        return false
    }

    private func deadLetter(_ event: Event, reason: DeadLetterRecord.Reason, error: String, attempts: Int) {
        let record = DeadLetterRecord(plugin: name, reason: reason, error: error, attempts: attempts, event: event, timeMilliseconds: clock.nowMilliseconds())
        do {
            try deadLetters.deadLetter(record)
        } catch {
            // Losing a dead letter loses the event: make it loud.
            logger.critical("dead letter could not be written: \(error)", metadata: ["event": .string(event.jsonLine)])
        }
        metrics.deadLettered.wrappingAdd(1, ordering: .relaxed)
        settle(event, .deadLettered)
    }

    private func settle(_ event: Event, _ settlement: Settlement) {
        metrics.queueDepth.wrappingSubtract(1, ordering: .relaxed)
        if settlement == .abandoned { metrics.abandoned.wrappingAdd(1, ordering: .relaxed) }
        onSettled?(event, settlement)
    }

    /// FNV-1a: a key-to-lane mapping that is the same in every process and run.
    static func stableHash(_ key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

/// A FIFO of events with amortised O(1) removal from the front.
struct EventQueue {
    private var storage: [Event] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Event? { isEmpty ? nil : storage[head] }

    mutating func append(_ event: Event) { storage.append(event) }

    mutating func removeFirst(upTo limit: Int) -> [Event] {
        let end = min(storage.count, head + limit)
        let batch = Array(storage[head..<end])
        head = end
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return batch
    }

    mutating func drainAll() -> [Event] { removeFirst(upTo: count) }

    /// Removes the queued events matching `predicate`; returns how many.
    mutating func removeAll(where predicate: (Event) -> Bool) -> Int {
        let before = count
        storage = storage[head...].filter { !predicate($0) }
        head = 0
        return before - count
    }
}
