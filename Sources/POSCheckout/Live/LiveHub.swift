import DequeModule
import Foundation
import POSPlatform

/// Fans the events read from the bus out to the subscribers of this pos-api instance, and keeps
/// the recent ones (the retention window) so a client that reconnects is sent what it missed.
/// `dispatch` is called by one thread (the feed) in the order events were read; it never waits
/// for a subscriber.
public final class LiveHub: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    public struct Limits: Sendable {
        /// How long events are kept for resuming, and at most how many.
        public var retentionMilliseconds: Int64 = 600_000
        public var retainedEvents = 50_000
        /// And at most this many bytes of them (a producer of huge events cannot exhaust memory).
        public var retainedBytes = 64 << 20
        /// Events a subscriber may have waiting before it is dropped as too slow.
        public var subscriberBuffer = 512
        public init() {}
    }

    public let limits: Limits
    private let lock = NSLock()
    private var retained = Deque<LiveEvent>()
    private var retainedSize = 0
    /// Per partition, the first offset whose events are all still retained.
    private var retainedFrom: [Int32: Int64] = [:]
    private var position = LiveCursor()
    private var started = false
    private var subscribers: [String: [Int: LiveSubscriber]] = [:]
    private var nextId = 1
    private(set) var dispatched = 0
    private var droppedSlow = 0
    /// Records read that were not events (counted, never pushed).
    private var skipped = 0
    private var sessionObservers: [@Sendable (LiveEvent) -> Void] = []

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// The feed is reading from `starts` (per partition); nothing before is known.
    public func started(at starts: [Int32: Int64]) {
        lock.withLock {
            for (partition, offset) in starts where position.next[partition] == nil {
                position.next[partition] = offset
                retainedFrom[partition] = offset
            }
            started = true
        }
    }

    public var isStarted: Bool { lock.withLock { started } }
    public var cursor: LiveCursor { lock.withLock { position } }
    public var subscriberCount: Int { lock.withLock { subscribers.values.reduce(0) { $0 + $1.count } } }

    /// Its own lock: a subscriber may overflow while the hub's lock is held (replaying).
    private let dropLock = NSLock()
    private func countDrop() { dropLock.withLock { droppedSlow += 1 } }

    /// For /health: subscribers now, events dispatched, subscribers dropped as too slow, and
    /// the read position.
    public var statistics: JSONValue {
        lock.withLock {
            .object([
                "subscribers": .number(Double(subscribers.values.reduce(0) { $0 + $1.count })), "dispatched": .number(Double(dispatched)),
                "dropped_slow": .number(Double(dropLock.withLock { droppedSlow })), "retained": .number(Double(retained.count)), "not_events": .number(Double(skipped)), "cursor": .string(position.text),
                "started": .bool(started),
            ])
        }
    }

    /// Called for events that may end sessions (logins, logouts, session ends), after dispatch.
    public func observeSessions(_ observer: @escaping @Sendable (LiveEvent) -> Void) {
        lock.withLock { sessionObservers.append(observer) }
    }

    static let sessionTypes: Set<String> = ["EMPLOYEE_LOGIN", "EMPLOYEE_LOGOUT", "SESSION_TERMINATED"]

    /// One event read from the bus (its terminal already resolved by the feed).
    public func dispatch(_ incoming: LiveEvent) {
        var event = incoming
        let (targets, observers) = lock.withLock { () -> ([LiveSubscriber], [@Sendable (LiveEvent) -> Void]) in
            // A record read again (the feed restarted a partition) is not sent twice.
            if let next = position.next[event.partition], event.offset < next { return ([], []) }
            position.next[event.partition] = event.offset + 1
            // A record that was not an event only moves the position (cursors stay exact).
            guard !event.type.isEmpty else {
                skipped += 1
                return ([], [])
            }
            event.cursor = position
            retained.append(event)
            retainedSize += event.size
            prune(now: event.timeMilliseconds)
            dispatched += 1
            var targets: [LiveSubscriber] = []
            for key in Self.keys(of: event) {
                for subscriber in subscribers[key]?.values ?? [:].values where subscriber.filter.matches(event) && subscriber.floor.admits(event) {
                    targets.append(subscriber)
                }
            }
            return (targets, Self.sessionTypes.contains(event.type) ? sessionObservers : [])
        }
        for subscriber in targets { subscriber.offer(event) }
        for observer in observers { observer(event) }
    }

    private static func keys(of event: LiveEvent) -> [String] {
        var keys = ["s"]
        if let terminal = event.terminalId { keys.append("t:" + terminal) }
        if let basket = event.basketId { keys.append("b:" + basket) }
        return keys
    }

    /// Drops what is older than the window or over the count; the partitions' retained-from
    /// offsets move past what was dropped.
    private func prune(now: Int64) {
        while let first = retained.first,
            retained.count > limits.retainedEvents || retainedSize > limits.retainedBytes || first.timeMilliseconds < now - limits.retentionMilliseconds
        {
            retained.removeFirst()
            retainedSize -= first.size
            retainedFrom[first.partition] = max(retainedFrom[first.partition] ?? 0, first.offset + 1)
        }
    }

    public enum ResumeProblem: Error, Equatable {
        /// Some events after the cursor are no longer retained: the client must reload.
        case tooOld
        /// The feed has not started reading yet.
        case notReady
        /// No retained event has this id.
        case unknownEvent
    }

    /// Registers a subscriber. With `after` (a cursor pushed earlier, from any instance) or
    /// `afterEventId` (an event this instance pushed), the retained events past it that match
    /// are handed over first, then the live ones, with no gap and no repeat.
    public func subscribe(_ filter: LiveFilter, after: LiveCursor? = nil, afterEventId: String? = nil) throws(ResumeProblem) -> LiveSubscriber {
        lock.lock()
        defer { lock.unlock() }
        var resumeFrom = after
        if let afterEventId {
            guard started else { throw .notReady }
            guard let event = retained.last(where: { $0.id == afterEventId }) else { throw .unknownEvent }
            resumeFrom = event.cursor
        }
        let subscriber = LiveSubscriber(id: nextId, filter: filter, limit: limits.subscriberBuffer, floor: resumeFrom ?? LiveCursor()) { [weak self] in
            self?.countDrop()
        }
        nextId += 1
        if let resumeFrom {
            guard started else { throw .notReady }
            for (partition, offset) in resumeFrom.next where offset < (retainedFrom[partition] ?? 0) { throw .tooOld }
            for event in retained where filter.matches(event) && resumeFrom.admits(event) {
                subscriber.offer(event)
            }
        }
        subscribers[filter.key, default: [:]][subscriber.id] = subscriber
        return subscriber
    }

    public func unsubscribe(_ subscriber: LiveSubscriber) {
        lock.withLock {
            subscribers[subscriber.filter.key]?[subscriber.id] = nil
            if subscribers[subscriber.filter.key]?.isEmpty == true { subscribers[subscriber.filter.key] = nil }
        }
        subscriber.finish()
    }
}
