import Synchronization

/// Per-plugin durable key-value state behind the `state_*` host services. Keys and values are
/// bytes; each plugin sees only its own namespace.
///
/// Implementations must make `commit` atomic: either every write of the call is applied or none.
public protocol StateStore: Sendable {
    func get(plugin: String, key: [UInt8]) throws -> [UInt8]?
    /// Entries whose key starts with `prefix`, in ascending byte order of keys.
    func scan(plugin: String, prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])]
    /// Applies `writes` atomically: a nil value deletes the key.
    func commit(plugin: String, writes: [[UInt8]: [UInt8]?]) throws

    /// Applies what successful calls left behind, atomically. A store that ``keepsOutbox``
    /// also stores the emitted events (published later by a relay) and the consumed positions
    /// in the same transaction; others apply the writes only.
    func commit(plugin: String, _ commit: StateCommit) throws

    /// Whether `commit` takes emitted events and positions (then nobody else publishes them).
    var keepsOutbox: Bool { get }

    /// Which of `ids` the plugin has already applied (committed), within the store's window:
    /// exactly-once as a consumer, so a re-delivered event is skipped, not applied twice.
    func appliedEvents(plugin: String, among ids: [String]) throws -> Set<String>

    /// Drops whatever the store remembers of `plugin`'s state: another host may have written it
    /// (called when the plugin changes hands).
    func forget(plugin: String)
}

extension StateStore {
    public func commit(plugin: String, _ commit: StateCommit) throws { try self.commit(plugin: plugin, writes: commit.writes) }
    public var keepsOutbox: Bool { false }
    public func forget(plugin: String) {}
    public func appliedEvents(plugin: String, among ids: [String]) throws -> Set<String> { [] }
}

/// The outcome of one or more successful calls of one plugin, in call order.
public struct StateCommit: Sendable {
    /// Last write per key wins; nil deletes.
    public var writes: [[UInt8]: [UInt8]?] = [:]
    public var emitted: [Event] = []
    /// Where the handled events came from (Kafka), for stores that keep consumer positions.
    public var positions: [EventPosition] = []
    /// The ids of the events applied, remembered for ``StateStore/appliedEvents(plugin:among:)``.
    public var applied: [String] = []

    public init() {}

    public mutating func add(writes: [[UInt8]: [UInt8]?], emitted: [Event], position: EventPosition?, applied id: String? = nil) {
        for (key, value) in writes { self.writes[key] = .some(value) }
        self.emitted.append(contentsOf: emitted)
        if let position { positions.append(position) }
        if let id { applied.append(id) }
    }
}

/// The ids a plugin applied, most recent `capacity` of them: the in-memory store's window for
/// duplicate detection (a host without a database remembers for as long as it runs).
struct AppliedWindow {
    static let capacity = 1_000_000
    private var members = Set<String>()
    private var order: [String] = []
    private var head = 0

    func contains(_ id: String) -> Bool { members.contains(id) }

    mutating func insert(_ id: String) {
        guard members.insert(id).inserted else { return }
        order.append(id)
        if members.count > Self.capacity {
            members.remove(order[head])
            head += 1
            if head > Self.capacity / 2 {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}

/// A state store in memory: the unit-test twin of the durable store, and the store of a host
/// run without a database (state then lasts as long as the process).
public final class InMemoryStateStore: StateStore {
    private let namespaces = Mutex<[String: [[UInt8]: [UInt8]]]>([:])

    public init() {}

    public func get(plugin: String, key: [UInt8]) -> [UInt8]? {
        namespaces.withLock { $0[plugin]?[key] }
    }

    public func scan(plugin: String, prefix: [UInt8]) -> [(key: [UInt8], value: [UInt8])] {
        let matches = namespaces.withLock { spaces in
            (spaces[plugin] ?? [:]).filter { $0.key.starts(with: prefix) }
        }
        return matches.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    public func commit(plugin: String, writes: [[UInt8]: [UInt8]?]) {
        guard !writes.isEmpty else { return }
        namespaces.withLock { spaces in
            // Mutate in place: copying the namespace out and back would copy it whole (COW).
            for (key, value) in writes { spaces[plugin, default: [:]][key] = value }
        }
    }

    private let applied = Mutex<[String: AppliedWindow]>([:])

    public func commit(plugin: String, _ commit: StateCommit) {
        self.commit(plugin: plugin, writes: commit.writes)
        guard !commit.applied.isEmpty else { return }
        applied.withLock { windows in for id in commit.applied { windows[plugin, default: AppliedWindow()].insert(id) } }
    }

    public func appliedEvents(plugin: String, among ids: [String]) -> Set<String> {
        applied.withLock { windows in
            guard let window = windows[plugin] else { return [] }
            return Set(ids.filter(window.contains))
        }
    }

    /// Every entry of one plugin's namespace (for tests and diagnostics).
    public func entries(plugin: String) -> [[UInt8]: [UInt8]] {
        namespaces.withLock { $0[plugin] ?? [:] }
    }
}

/// The writes of one plugin call, applied to the store only when the call succeeds. Reads see
/// the call's own writes first.
final class StateTransaction {
    let plugin: String
    let store: any StateStore
    private(set) var writes: [[UInt8]: [UInt8]?] = [:]

    init(plugin: String, store: any StateStore) {
        self.plugin = plugin
        self.store = store
    }

    func get(_ key: [UInt8]) throws -> [UInt8]? {
        if let pending = writes[key] { return pending }
        return try store.get(plugin: plugin, key: key)
    }

    func put(_ key: [UInt8], _ value: [UInt8]) { writes[key] = .some(value) }

    func delete(_ key: [UInt8]) { writes[key] = .some(nil) }

    func scan(_ prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        var merged: [[UInt8]: [UInt8]] = [:]
        for entry in try store.scan(plugin: plugin, prefix: prefix) { merged[entry.key] = entry.value }
        for (key, value) in writes where key.starts(with: prefix) { merged[key] = value }
        return merged.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    func commit() throws { try store.commit(plugin: plugin, writes: writes) }
}

/// Consumer positions stored with plugin state (effectively-once processing): where each
/// plugin's reading of a partition resumes.
public protocol PositionStore: Sendable {
    /// The next offset to read per partition, for `plugin`.
    func positions(plugin: String) throws -> [TopicPartition: Int64]
}
