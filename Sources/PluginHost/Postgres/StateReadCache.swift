import Foundation

/// What a host has read of and written to each plugin's state in PostgreSQL, so that reads
/// after the first cost no round trip while the event waits. Sound because one host writes a
/// plugin's state at a time (ADR 12): the cache of a plugin is dropped whenever it changes hands
/// (``forget(_:)``, on acquiring and releasing its lease) and whenever a commit fails (a fenced
/// or rolled-back commit may leave the database other than the cache believes).
///
/// Entries: single keys (present or known absent) and whole prefix scans, both updated by
/// every successful commit. A generation per plugin, bumped by each commit and each forget,
/// keeps a read that raced with a commit from storing what it read before the commit. A plugin
/// whose cache grows past `limit` entries starts over (bounded memory).
final class StateReadCache: @unchecked Sendable {
    // @unchecked: `plugins` is guarded by `lock` (a pthread mutex: readers from several
    // workers' service threads must not spin).
    private struct PluginCache {
        var generation: UInt64 = 0
        var values: [[UInt8]: [UInt8]?] = [:]
        var scans: [[UInt8]: [[UInt8]: [UInt8]]] = [:]
        var size = 0
    }

    private let lock = NSLock()
    private var plugins: [String: PluginCache] = [:]
    private let limit: Int
    private var nextGeneration: UInt64 = 1

    init(limit: Int = 200_000) { self.limit = limit }

    /// The cached value (`.some(nil)`: known absent), or nil with the generation to store under.
    func value(_ plugin: String, _ key: [UInt8]) -> (hit: [UInt8]??, generation: UInt64) {
        lock.withLock {
            let cache = plugins[plugin]
            if let value = cache?.values[key] { return (.some(value), 0) }
            if let cache {
                for (prefix, entries) in cache.scans where key.starts(with: prefix) { return (.some(entries[key]), 0) }
            }
            return (nil, cache?.generation ?? 0)
        }
    }

    func store(_ plugin: String, _ key: [UInt8], _ value: [UInt8]?, generation: UInt64) {
        lock.withLock {
            guard (plugins[plugin]?.generation ?? 0) == generation else { return }
            plugins[plugin, default: PluginCache()].values[key] = .some(value)
            grow(plugin, by: 1)
        }
    }

    func scan(_ plugin: String, _ prefix: [UInt8]) -> (hit: [(key: [UInt8], value: [UInt8])]?, generation: UInt64) {
        lock.withLock {
            guard let cache = plugins[plugin] else { return (nil, 0) }
            for (cached, entries) in cache.scans where prefix.starts(with: cached) {
                let hit = entries.filter { $0.key.starts(with: prefix) }.map { (key: $0.key, value: $0.value) }
                return (hit.sorted { $0.key.lexicographicallyPrecedes($1.key) }, 0)
            }
            return (nil, cache.generation)
        }
    }

    func storeScan(_ plugin: String, _ prefix: [UInt8], _ entries: [(key: [UInt8], value: [UInt8])], generation: UInt64) {
        lock.withLock {
            guard (plugins[plugin]?.generation ?? 0) == generation else { return }
            var table: [[UInt8]: [UInt8]] = [:]
            for entry in entries { table[entry.key] = entry.value }
            plugins[plugin, default: PluginCache()].scans[prefix] = table
            grow(plugin, by: entries.count + 1)
        }
    }

    /// After a successful commit: its writes become what the cache knows.
    func committed(_ plugin: String, _ writes: [[UInt8]: [UInt8]?]) {
        lock.withLock {
            var cache = plugins.removeValue(forKey: plugin) ?? PluginCache()
            cache.generation = bump()
            for (key, value) in writes {
                cache.values[key] = .some(value)
                for prefix in cache.scans.keys where key.starts(with: prefix) { cache.scans[prefix]![key] = value }
            }
            cache.size += writes.count
            plugins[plugin] = cache
            grow(plugin, by: 0)
        }
    }

    /// Drops what is known of `plugin` (it changed hands, or a commit failed).
    func forget(_ plugin: String) {
        lock.withLock {
            var fresh = PluginCache()
            fresh.generation = bump()
            plugins[plugin] = fresh
        }
    }

    private func bump() -> UInt64 {
        nextGeneration += 1
        return nextGeneration
    }

    private func grow(_ plugin: String, by count: Int) {
        plugins[plugin]!.size += count
        if plugins[plugin]!.size > limit {
            var fresh = PluginCache()
            fresh.generation = bump()
            plugins[plugin] = fresh
        }
    }
}
