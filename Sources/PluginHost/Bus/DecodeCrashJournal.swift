import Foundation
import Synchronization

/// Defence in depth against input that kills the host while it is being decoded: every
/// decoder is total and fuzzed, but a trap that slips through would otherwise kill the host
/// again on the same record after every restart, since its offset is never committed.
///
/// Each consumer loop marks the record it is decoding in a slot of a small memory-mapped file
/// (`<state_dir>/decoding-in-flight`): two plain stores per record, no system call, and the
/// marks survive the process's death because the pages belong to the page cache, not to the
/// process. At startup the host reads the slots still marked (records being decoded when it
/// died), and counts, in `<state_dir>/decode-crashes`, how many starts in a row found each of
/// them. A record found ``threshold`` times in a row is poison: the ingress dead-letters it
/// without decoding it and the plugins' feeds skip it. A record not found at a start drops out
/// of the count ("in a row"). A SIGKILL landing by chance while a record is decoded (some
/// microseconds) counts once; three in a row on the same record do not happen by chance.
public final class DecodeCrashJournal: @unchecked Sendable {
    // @unchecked: `slots` points into a shared mapping; each slot has one writer (its loop's
    // thread), `nextSlot` is atomic, `poison` is immutable after init.

    /// A record of a topic partition.
    public struct Record: Hashable, Sendable, CustomStringConvertible {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var description: String { "\(topic)/\(partition)@\(offset)" }
    }

    /// Starts in a row that found a record in flight before it counts as poison.
    public let threshold: Int
    /// Poison records with the number of starts in a row that found them in flight.
    public let poison: [Record: Int]
    /// Records found in flight at this start (with their count in a row).
    public let foundInFlight: [Record: Int]

    static let slotCount = 256
    static let slotBytes = 256
    static let topicCapacity = slotBytes - 32
    private let mapping: UnsafeMutableRawPointer?
    private let nextSlot = Atomic<Int>(0)

    /// Reads and resets the journal in `directory` (created if missing). Without a usable
    /// directory the journal is inactive (nothing marked, nothing poison) and says why in `error`.
    public init(directory: String, threshold: Int = 3) {
        self.threshold = threshold
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let slotsPath = directory + "/decoding-in-flight"
        let countsPath = directory + "/decode-crashes"
        let length = Self.slotCount * Self.slotBytes
        let fd = open(slotsPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        var mapped: UnsafeMutableRawPointer?
        if fd >= 0, ftruncate(fd, off_t(length)) == 0 {
            let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if let address, address != MAP_FAILED { mapped = address }
        }
        if fd >= 0 { close(fd) }
        mapping = mapped

        let found = mapped.map { Self.markedRecords(in: $0) } ?? []
        let previous = Self.readCounts(countsPath)
        var counts: [Record: Int] = [:]
        for record in Set(found) { counts[record] = (previous[record] ?? 0) + 1 }
        foundInFlight = counts
        poison = counts.filter { $0.value >= threshold }
        Self.writeCounts(counts, to: countsPath)
        if let mapped { memset(mapped, 0, length) }
    }

    /// Whether the journal works (its file could be mapped).
    public var isActive: Bool { mapping != nil }

    /// The number of starts in a row that found this record in flight, when it is poison.
    public func crashes(_ topic: String, _ partition: Int32, _ offset: Int64) -> Int? {
        guard !poison.isEmpty else { return nil }
        return poison[Record(topic: topic, partition: partition, offset: offset)]
    }

    /// A slot for one consumer loop (one thread marks through it).
    public func slot() -> Slot {
        let index = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue
        guard let mapping, index < Self.slotCount else { return Slot(base: nil) }
        return Slot(base: mapping + index * Self.slotBytes)
    }

    /// Marks records of one consumer loop: layout `[busy u64][partition i64][offset i64]
    /// [topic length i64][topic bytes]`, busy written last on begin and first on end.
    public struct Slot: @unchecked Sendable {
        let base: UnsafeMutableRawPointer?
        private var topic: String?

        init(base: UnsafeMutableRawPointer?) { self.base = base }

        /// Marks `offset` of `topic`/`partition` as being decoded.
        public mutating func begin(_ topic: String, _ partition: Int32, _ offset: Int64) {
            guard let base else { return }
            if topic != self.topic {
                let bytes = Array(topic.utf8.prefix(DecodeCrashJournal.topicCapacity))
                bytes.withUnsafeBytes { (base + 32).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                base.storeBytes(of: Int64(bytes.count), toByteOffset: 24, as: Int64.self)
                self.topic = topic
            }
            base.storeBytes(of: Int64(partition), toByteOffset: 8, as: Int64.self)
            base.storeBytes(of: offset, toByteOffset: 16, as: Int64.self)
            base.storeBytes(of: 1, toByteOffset: 0, as: UInt64.self)
        }

        /// The record is decoded (or rejected): no longer in flight.
        public func end() {
            base?.storeBytes(of: 0, toByteOffset: 0, as: UInt64.self)
        }
    }

    private static func markedRecords(in mapping: UnsafeMutableRawPointer) -> [Record] {
        (0..<slotCount).compactMap { index in
            let base = mapping + index * slotBytes
            guard base.load(as: UInt64.self) == 1 else { return nil }
            let length = Int(base.load(fromByteOffset: 24, as: Int64.self))
            guard (1...topicCapacity).contains(length) else { return nil }
            let topic = String(decoding: UnsafeRawBufferPointer(start: base + 32, count: length), as: UTF8.self)
            let partition = base.load(fromByteOffset: 8, as: Int64.self)
            guard let partition32 = Int32(exactly: partition) else { return nil }
            return Record(topic: topic, partition: partition32, offset: base.load(fromByteOffset: 16, as: Int64.self))
        }
    }

    /// Lines `<count> <partition> <offset> <topic>`; anything unreadable is ignored.
    private static func readCounts(_ path: String) -> [Record: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var counts: [Record: Int] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3)
            guard fields.count == 4, let count = Int(fields[0]), let partition = Int32(fields[1]), let offset = Int64(fields[2]) else { continue }
            counts[Record(topic: String(fields[3]), partition: partition, offset: offset)] = count
        }
        return counts
    }

    private static func writeCounts(_ counts: [Record: Int], to path: String) {
        let text = counts.map { "\($0.value) \($0.key.partition) \($0.key.offset) \($0.key.topic)\n" }.sorted().joined()
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else { return }
        _ = rename(temporary, path)
    }
}
