import Synchronization

/// What one plugin may deliver next: the bound below which nothing more can appear from the
/// other plugins, and the events they emitted from the plugin's cursor up to that bound.
public struct CausalView: Sendable {
    /// No event below this can still be emitted by, or be pending at, any other participant.
    public var othersFrontier: OrderKey
    /// Events other plugins emitted with keys from the cursor through min(othersFrontier, the
    /// limit asked), in order.
    public var emissions: [Event]
    /// False when `emissions` stopped at the count asked for (ask again from after the last).
    public var complete: Bool
    /// How far every other participant has read each partition (the least of them; 0 where
    /// one has read nothing): an input event may be taken only once all of them have read
    /// up to it, or a plugin whose consumer wrongly looks caught up could still emit before it.
    public var othersRead: [TopicPartition: Int64]
    /// How many other participants there are (none: nothing to wait for).
    public var othersCount: Int
    /// Events others emitted below the cursor since the sequence asked about: late ones (their
    /// cause was input that arrived after later events). Taken at once, out of order, so that
    /// nothing is lost. May repeat earlier ones (the taker skips what it took).
    public var late: [Event] = []
    /// Where to ask about late ones next time.
    public var sequence: Int64 = 0
}

/// How plugins learn each other's progress and read each other's emitted events in their
/// causal place (progress tracking in the manner of Naiad's frontiers). Each running plugin is
/// a participant with
/// - a **frontier**: every event it has not settled yet, or may still receive from its input,
///   sorts at or above it;
/// - a **cursor**: it has taken every event emitted by others that sorts below it.
/// A plugin may take an event with key k once k is at most every other participant's frontier
/// and their first emitted event it has not passed yet: then nothing sorting before k can still
/// be emitted anywhere. In memory for one host (``InMemoryCausalLog``), in PostgreSQL for
/// several (``PostgresCausalLog``, reading emitted events from the outbox).
public protocol CausalLog: Sendable {
    /// Makes `plugin` a participant others wait for (its frontier starts at the bottom, or
    /// where it was stored, which is always a valid lower bound), with the types it takes and
    /// the types it may emit (nil: any): a plugin waits only for those that can, directly or
    /// through others, emit something it takes.
    func register(_ plugin: String, subscriptions: [String], emits: [String]?) throws
    /// Where the plugin's delivery of emitted events resumes.
    func cursor(of plugin: String) throws -> OrderKey
    /// Publishes the plugin's progress: its frontier, its cursor, and how far it has read each
    /// partition (the next offset). Inactive (disabled, quarantined): nobody waits for it.
    func publish(_ plugin: String, frontier: OrderKey, cursor: OrderKey, read: [TopicPartition: Int64], active: Bool) throws
    /// The others' frontier and their emitted events from `cursor` through min(frontier, `limit`).
    /// With `lateAfter`, also the emitted events below the cursor added after that sequence.
    func view(for plugin: String, cursor: OrderKey, through limit: OrderKey, maxEmissions: Int, lateAfter: Int64?) throws -> CausalView
    /// Records events a plugin emitted (after its commit; before the cause is settled). Stores
    /// that keep an outbox read them from there instead.
    func append(_ emitted: [Event], by plugin: String)
}

/// The causal log of one host, in memory (no database: the host's life is the log's life).
public final class InMemoryCausalLog: CausalLog {
    struct Participant {
        var frontier = OrderKey.bottom
        var cursor = OrderKey.bottom
        var read: [TopicPartition: Int64] = [:]
        var active = true
        var role = CausalRole(subscriptions: ["*"], emits: nil)
    }
    struct Emission {
        var key: OrderKey
        var emitter: String
        var event: Event
        var sequence: Int64
    }
    private let state = Mutex<(participants: [String: Participant], emissions: [Emission], appends: Int, sequence: Int64)>(([:], [], 0, 0))

    public init() {}

    public func register(_ plugin: String, subscriptions: [String], emits: [String]?) {
        state.withLock { state in
            state.participants[plugin, default: Participant()].active = true
            state.participants[plugin]!.role = CausalRole(subscriptions: subscriptions, emits: emits)
        }
    }

    public func cursor(of plugin: String) -> OrderKey { state.withLock { $0.participants[plugin]?.cursor ?? .bottom } }

    public func publish(_ plugin: String, frontier: OrderKey, cursor: OrderKey, read: [TopicPartition: Int64], active: Bool) {
        state.withLock { state in
            let role = state.participants[plugin]?.role ?? CausalRole(subscriptions: ["*"], emits: nil)
            state.participants[plugin] = Participant(frontier: frontier, cursor: cursor, read: read, active: active, role: role)
        }
    }

    public func append(_ emitted: [Event], by plugin: String) {
        guard !emitted.isEmpty else { return }
        state.withLock { state in
            for event in emitted {
                state.sequence += 1
                let emission = Emission(key: event.orderKey, emitter: plugin, event: event, sequence: state.sequence)
                // Emissions arrive nearly in order: insert from the back.
                var index = state.emissions.count
                while index > 0 && emission.key < state.emissions[index - 1].key { index -= 1 }
                state.emissions.insert(emission, at: index)
            }
            state.appends += emitted.count
            if state.appends >= 1024 {
                state.appends = 0
                Self.prune(&state.emissions, participants: state.participants)
            }
        }
    }

    public func view(for plugin: String, cursor: OrderKey, through limit: OrderKey, maxEmissions: Int, lateAfter: Int64?) -> CausalView {
        var view = ordered(for: plugin, cursor: cursor, through: limit, maxEmissions: maxEmissions)
        guard let lateAfter else { return view }
        state.withLock { state in
            view.sequence = state.sequence
            view.late = state.emissions.filter { $0.sequence > lateAfter && $0.key < cursor && $0.emitter != plugin }.sorted { $0.sequence < $1.sequence }.map(\.event)
        }
        return view
    }

    private func ordered(for plugin: String, cursor: OrderKey, through limit: OrderKey, maxEmissions: Int) -> CausalView {
        state.withLock { state in
            var frontier = OrderKey.top
            var others: [[TopicPartition: Int64]] = []
            let upstream = CausalRole.upstream(of: plugin, roles: state.participants.mapValues(\.role))
            for (name, participant) in state.participants where upstream.contains(name) && participant.active {
                frontier = min(frontier, participant.frontier)
                if let pending = Self.first(in: state.emissions, from: participant.cursor, notBy: name) { frontier = min(frontier, pending) }
                others.append(participant.read)
            }
            let othersRead = CausalView.least(others)
            let bound = min(frontier, limit)
            var emissions: [Event] = []
            var index = Self.lowerBound(state.emissions, cursor)
            while index < state.emissions.count, state.emissions[index].key <= bound {
                if state.emissions[index].emitter != plugin {
                    if emissions.count == maxEmissions { return CausalView(othersFrontier: frontier, emissions: emissions, complete: false, othersRead: othersRead, othersCount: others.count) }
                    emissions.append(state.emissions[index].event)
                }
                index += 1
            }
            return CausalView(othersFrontier: frontier, emissions: emissions, complete: true, othersRead: othersRead, othersCount: others.count)
        }
    }

    /// How many emitted events are kept (tests).
    var retained: Int { state.withLock { $0.emissions.count } }

    private static func first(in emissions: [Emission], from cursor: OrderKey, notBy emitter: String) -> OrderKey? {
        var index = lowerBound(emissions, cursor)
        while index < emissions.count {
            if emissions[index].emitter != emitter { return emissions[index].key }
            index += 1
        }
        return nil
    }

    private static func lowerBound(_ emissions: [Emission], _ key: OrderKey) -> Int {
        var low = 0, high = emissions.count
        while low < high {
            let middle = (low + high) / 2
            if emissions[middle].key < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Drops what every active participant but its emitter has passed.
    private static func prune(_ emissions: inout [Emission], participants: [String: Participant]) {
        let active = participants.filter { $0.value.active }
        emissions.removeAll { emission in active.allSatisfy { $0.key == emission.emitter || $0.value.cursor > emission.key } }
    }
}

/// What a participant takes and may emit, to know whom it must wait for.
public struct CausalRole: Sendable, Equatable {
    public var subscriptions: [String]
    /// nil: may emit any type.
    public var emits: [String]?

    /// Whether events `self` emits can be taken by `taker`.
    func feeds(_ taker: CausalRole) -> Bool {
        guard let emits else { return true }
        if emits.isEmpty { return false }
        return taker.subscriptions.contains("*") || !Set(emits).isDisjoint(with: taker.subscriptions)
    }

    /// Every participant whose emitted events can reach `plugin`, directly or through others
    /// (not itself: a plugin does not receive its own). Unknown plugins count as taking all.
    static func upstream(of plugin: String, roles: [String: CausalRole]) -> Set<String> {
        var found: Set<String> = []
        var frontier: [String] = [plugin]
        while let next = frontier.popLast() {
            let taker = roles[next] ?? CausalRole(subscriptions: ["*"], emits: nil)
            for (name, role) in roles where name != plugin && !found.contains(name) && role.feeds(taker) {
                found.insert(name)
                frontier.append(name)
            }
        }
        return found
    }
}

extension CausalView {
    /// Per partition, the least of the positions (a partition one of them lacks counts as 0).
    static func least(_ positions: [[TopicPartition: Int64]]) -> [TopicPartition: Int64] {
        guard var result = positions.first else { return [:] }
        for other in positions.dropFirst() {
            for (partition, offset) in result { result[partition] = min(offset, other[partition] ?? 0) }
        }
        return result
    }

    /// Whether every other participant has read `partition` up to `offset` (no participants: yes).
    func othersHaveRead(_ partition: TopicPartition, upTo offset: Int64) -> Bool {
        othersCount == 0 || (othersRead[partition] ?? 0) >= offset
    }
}

/// Wraps the sink of emitted events so that the in-memory causal log learns them first.
final class CausalLogSink: EmittedEventSink {
    let inner: any EmittedEventSink
    let log: any CausalLog

    init(inner: any EmittedEventSink, log: any CausalLog) {
        self.inner = inner
        self.log = log
    }

    func publish(_ events: [Event]) throws {
        var byEmitter: [String: [Event]] = [:]
        for event in events {
            guard let source = event.source, source.hasPrefix("plugin:") else { continue }
            byEmitter[String(source.dropFirst("plugin:".count)), default: []].append(event)
        }
        for (emitter, emitted) in byEmitter { log.append(emitted, by: emitter) }
        try inner.publish(events)
    }

    func flush() throws { try inner.flush() }
}
