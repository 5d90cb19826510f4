import Foundation
import Synchronization

/// One plugin feed's ordering (ADR 14): its input merged into event-time order, the events other
/// plugins emitted delivered in their causal place from the ``CausalLog``, and its own progress
/// published there for the others. Everything but `settled` runs on the feed's loop thread.
final class CausalOrdering: @unchecked Sendable {
    // @unchecked: the vars are touched only by the loop thread; `unsettled` has its own lock.
    let plugin: String
    let log: any CausalLog
    private var merger = EventTimeMerger()
    /// Every event emitted by others that sorts below this has been taken.
    private var cursor: OrderKey
    /// Emitted events fetched (all of those from `cursor` through `fetchedThrough`) not yet taken.
    private var pending: [Event] = []
    private var fetchedThrough = OrderKey.bottom
    private var othersFrontier = OrderKey.bottom
    private var othersRead: [TopicPartition: Int64] = [:]
    private var othersCount = 1
    /// Late emitted events: asked about every 50 ms (from this log sequence), taken once.
    /// Unknown at first (the largest value): the first answer tells the log's sequence, and
    /// nothing before it is late (the stored cursor never passes an unsettled event).
    private var lateAfter: Int64 = .max
    private var lastLateCheck: UInt64 = 0
    private var recentlyTaken: Set<String> = []
    /// Emitted events taken out of order (their cause arrived late).
    private(set) var lateTaken = 0
    /// The last failure to read the causal log (the feed logs it), if any.
    var lastError: String?
    private let unsettled = Mutex(UnsettledKeys())
    private var lastView: UInt64 = 0
    private var idleInterval: UInt64 = 5_000_000
    private var lastPublished: (frontier: OrderKey, cursor: OrderKey, read: [TopicPartition: Int64], active: Bool)?
    private var publishedAt: UInt64 = 0
    private var detachedSince: UInt64?
    /// Database round trips are spaced; the in-memory log is asked every time.
    private let minimumInterval: UInt64

    init(plugin: String, log: any CausalLog) {
        self.plugin = plugin
        self.log = log
        cursor = (try? log.cursor(of: plugin)) ?? .bottom
        minimumInterval = log is InMemoryCausalLog ? 0 : 1_000_000
    }

    var isHolding: Bool { !merger.isEmpty || !pending.isEmpty }

    /// How long the loop may block in poll: short while something waits for others.
    var pollTimeoutMilliseconds: Int32 { isHolding ? 1 : Int32(min(100, idleInterval / 1_000_000)) }

    func add(_ event: Event, from partition: TopicPartition) {
        merger.add(event, from: partition)
        idleInterval = 5_000_000
    }

    /// Releases, in order, every event (input or emitted by others) that may be taken now.
    /// `read`: how far this feed has read each partition (the next offset).
    func pump(
        assigned: [TopicPartition], read: [TopicPartition: Int64], isCaughtUp: (TopicPartition) -> Bool, wants: (String) -> Bool, submit: (Event) -> Bool
    ) {
        detachedSince = nil
        while true {
            let head = merger.releasable(assigned: assigned, isCaughtUp: isCaughtUp)
            let headKey = head.flatMap { merger.frontKey(of: $0) }
            // No input event still to come sorts below this.
            let inputBound = headKey ?? merger.inputFrontier(assigned: assigned, isCaughtUp: isCaughtUp)
            let now = DispatchTime.now().uptimeNanoseconds
            let blocked = headKey.map { $0 > othersFrontier || $0 > fetchedThrough || !othersHaveRead(assigned, read) } ?? false
            let idleDue = headKey == nil && pending.isEmpty && now - lastView >= idleInterval
            if (blocked || idleDue) && now - lastView >= minimumInterval {
                lastView = now
                let askLate = now - lastLateCheck >= 50_000_000
                let view: CausalView
                do {
                    view = try log.view(for: plugin, cursor: cursor, through: .top, maxEmissions: 512, lateAfter: askLate ? lateAfter : nil)
                } catch {
                    lastError = "\(error)"
                    break
                }
                if askLate {
                    lastLateCheck = now
                    lateAfter = view.sequence
                    for emitted in view.late where recentlyTaken.insert(emitted.id).inserted && wants(emitted.type) {
                        lateTaken += 1
                        unsettled.withLock { $0.submitted(emitted.orderKey, partition: nil) }
                        if !submit(emitted) { return }
                    }
                }
                othersFrontier = view.othersFrontier
                othersRead = view.othersRead
                othersCount = view.othersCount
                pending = view.emissions
                fetchedThrough = view.complete ? view.othersFrontier : (view.emissions.last?.orderKey ?? cursor)
                if headKey == nil { idleInterval = view.emissions.isEmpty ? min(idleInterval * 2, 200_000_000) : 5_000_000 }
            }
            var progressed = false
            // Emitted events that come before the next input event.
            while let emitted = pending.first, emitted.orderKey < inputBound {
                pending.removeFirst()
                cursor = emitted.orderKey.successor
                progressed = true
                if recentlyTaken.count > 50_000 { recentlyTaken.removeAll(keepingCapacity: true) }
                guard recentlyTaken.insert(emitted.id).inserted else { continue }
                guard wants(emitted.type) else { continue }
                unsettled.withLock { $0.submitted(emitted.orderKey, partition: nil) }
                if !submit(emitted) { return }
            }
            // Nothing emitted remains up to what was fetched (and nothing new can appear there).
            if pending.isEmpty, fetchedThrough != .top, cursor <= fetchedThrough { cursor = fetchedThrough.successor }
            if let head, let headKey, headKey <= othersFrontier, headKey <= fetchedThrough, pending.first.map({ headKey < $0.orderKey }) ?? true,
                othersHaveRead(assigned, read)
            {
                cursor = max(cursor, headKey)
                if let event = merger.pop(head) {
                    unsettled.withLock { $0.submitted(headKey, partition: event.position.map { TopicPartition(topic: $0.topic, partition: $0.partition) }) }
                    if !submit(event) { return }
                    progressed = true
                }
            }
            if !progressed { break }
        }
    }

    /// Whether the others have read everything this plugin has passed: up to the front of each
    /// partition's queue, or as far as it read where nothing is queued. (A plugin whose consumer
    /// only looks caught up, from a stale watermark, reads on before anyone passes it.)
    private func othersHaveRead(_ assigned: [TopicPartition], _ read: [TopicPartition: Int64]) -> Bool {
        guard othersCount > 0 else { return true }
        for partition in assigned {
            let passed = merger.frontOffset(of: partition) ?? read[partition] ?? 0
            if (othersRead[partition] ?? 0) < passed { return false }
        }
        return true
    }

    /// Called for every event the plugin settles (any thread).
    func settled(_ event: Event, _ settlement: Settlement) {
        guard settlement != .abandoned else { return }
        unsettled.withLock { $0.settle(event.orderKey) }
    }

    /// Revoked partitions: their queued events are gone (the next owner reads them).
    func revoked(_ partitions: Set<TopicPartition>) {
        merger.drop(partitions)
        unsettled.withLock { $0.drop(partitions) }
    }

    /// Repositioned (enable): nothing read before counts any more.
    func reset() {
        merger.reset()
        pending = []
        fetchedThrough = .bottom
        unsettled.withLock { $0 = UnsettledKeys() }
    }

    /// Publishes this plugin's progress when it changed (spaced for the database), with a
    /// heartbeat each second. A plugin detached from its dispatcher for two seconds (disabled,
    /// quarantined) is published inactive: nobody waits for it.
    func publish(attached: Bool, assigned: [TopicPartition], read: [TopicPartition: Int64], isCaughtUp: (TopicPartition) -> Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        var active = true
        if !attached {
            if detachedSince == nil { detachedSince = now }
            active = now - (detachedSince ?? now) < 2_000_000_000
        }
        var frontier = merger.inputFrontier(assigned: assigned, isCaughtUp: isCaughtUp)
        let oldest = unsettled.withLock { $0.oldest }
        if let oldest { frontier = min(frontier, oldest) }
        // What others (and this plugin after a restart) rely on: taken means settled, so an
        // emitted event submitted but not yet committed is taken again after a crash.
        let cursor = oldest.map { min(self.cursor, $0) } ?? self.cursor
        let current = (frontier: frontier, cursor: cursor, read: read, active: active)
        if let last = lastPublished, last.frontier == current.frontier, last.cursor == current.cursor, last.read == current.read, last.active == current.active,
            now - publishedAt < 1_000_000_000
        {
            return
        }
        if lastPublished != nil, now - publishedAt < minimumInterval * 2 { return }
        do {
            try log.publish(plugin, frontier: frontier, cursor: cursor, read: read, active: active)
            lastPublished = current
            publishedAt = now
        } catch {
            // Not published: the others keep waiting on the older (lower) frontier, which is safe.
            lastError = "\(error)"
        }
    }
}

/// The keys of events submitted to the dispatcher and not settled yet, oldest first.
struct UnsettledKeys {
    private var keys: [(key: OrderKey, partition: TopicPartition?)] = []
    private var head = 0
    private var settledEarly: Set<OrderKey> = []

    var oldest: OrderKey? { head < keys.count ? keys[head].key : nil }

    mutating func submitted(_ key: OrderKey, partition: TopicPartition?) { keys.append((key, partition)) }

    mutating func settle(_ key: OrderKey) {
        settledEarly.insert(key)
        while head < keys.count, settledEarly.remove(keys[head].key) != nil { head += 1 }
        if head == keys.count {
            keys.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 {
            keys.removeFirst(head)
            head = 0
        }
    }

    mutating func drop(_ partitions: Set<TopicPartition>) {
        keys = keys[head...].filter { entry in entry.partition.map { !partitions.contains($0) } ?? true }
        head = 0
    }
}
