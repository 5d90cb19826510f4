import Foundation

/// Decodes each record once per host, not once per plugin: every plugin's consumer group reads
/// the same records at about the same time, and decoding (parse, validate, canonical payload)
/// was the larger part of the host's CPU, done six times over (five plugins and the ingress).
///
/// A ring of recent records per partition, indexed by offset: the first feed to reach a record
/// decodes it, the others take the result while it is still in the ring (a feed that trails the
/// others by more than `capacity` records decodes for itself). A hit is confirmed against the
/// record's bytes, so a recreated topic reusing offsets can never be answered from the past.
/// Locks are pthread mutexes held for a slot's read or write only: Synchronization's Mutex
/// spins when contended, and six feeds spinning on one lock cost more than the decoding saved.
final class DecodedRecordCache: @unchecked Sendable {
    // @unchecked: `rings` is guarded by `lock`; each ring guards its entries.
    private let capacity: Int
    private let lock = NSLock()
    private var rings: [TopicPartition: Ring] = [:]

    init(capacity: Int = 2048) { self.capacity = capacity }

    /// The ring of one partition (a feed keeps it, so the shared table is rarely consulted).
    func ring(_ partition: TopicPartition) -> Ring {
        lock.withLock {
            if let ring = rings[partition] { return ring }
            let ring = Ring(capacity: capacity)
            rings[partition] = ring
            return ring
        }
    }

    final class Ring: @unchecked Sendable {
        // @unchecked: `entries` is guarded by `lock`.
        private struct Entry {
            var offset: Int64 = -1
            var bytes: [UInt8] = []
            var result: Result<Event, EventDecoder.Rejection> = .failure(.init(reason: ""))
        }
        private let lock = NSLock()
        private var entries: [Entry]
        /// Read without the lock (the array itself is only touched under it).
        private let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            entries = Array(repeating: Entry(), count: capacity)
        }

        /// The decoded record at `offset`, from the ring or from `decode` (whose result is kept).
        func decoded(_ offset: Int64, _ bytes: [UInt8], decode: () throws(EventDecoder.Rejection) -> Event) throws(EventDecoder.Rejection) -> Event {
            let slot = Int(offset % Int64(capacity))
            let entry = lock.withLock { entries[slot] }
            if entry.offset == offset, entry.bytes == bytes { return try entry.result.get() }
            let result: Result<Event, EventDecoder.Rejection>
            do throws(EventDecoder.Rejection) {
                result = .success(try decode())
            } catch {
                result = .failure(error)
            }
            var replaced = Entry(offset: offset, bytes: bytes, result: result)
            lock.withLock { swap(&entries[slot], &replaced) }
            _ = replaced  // the old entry is released here, outside the lock
            return try result.get()
        }
    }
}
