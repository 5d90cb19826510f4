import CRdKafka
import Foundation

/// A topic and partition.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    public var description: String { "\(topic)/\(partition)" }
}

/// A Kafka group consumer with manual offset commits.
///
/// Thread contract: `poll` (and the rebalance callbacks it runs) must be called from one
/// thread; `commit`, `pause`, `resume` and `seek` are thread-safe (librdkafka's contract).
/// Offsets are never committed automatically: the owner commits what has been handled.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked: `client` is thread-safe by librdkafka's contract; `callbacks` is set up before use.
    let client: OpaquePointer
    public let groupId: String
    private let callbacks: Callbacks
    /// Guards `client` against use after `close()` destroyed it. Recursive because librdkafka
    /// runs the rebalance callback (which commits) on the thread that is closing.
    private let clientLock = NSRecursiveLock()
    private var closed = false

    /// Runs `body` with the client unless the consumer is closed (then returns `fallback`).
    private func withClient<T>(_ fallback: T, _ body: (OpaquePointer) throws(KafkaError) -> T) throws(KafkaError) -> T {
        clientLock.lock()
        defer { clientLock.unlock() }
        guard !closed else { return fallback }
        return try body(client)
    }

    final class Callbacks: @unchecked Sendable {
        // Called on the polling thread only.
        let onAssign: @Sendable ([TopicPartition]) -> Void
        let onRevoke: @Sendable ([TopicPartition]) -> Void
        let startingOffsets: @Sendable ([TopicPartition]) -> [TopicPartition: Int64]
        init(
            onAssign: @escaping @Sendable ([TopicPartition]) -> Void, onRevoke: @escaping @Sendable ([TopicPartition]) -> Void,
            startingOffsets: @escaping @Sendable ([TopicPartition]) -> [TopicPartition: Int64]
        ) {
            self.onAssign = onAssign
            self.onRevoke = onRevoke
            self.startingOffsets = startingOffsets
        }
    }

    /// Joins `groupId` and subscribes to `topics`. A group with no committed offsets starts at
    /// the beginning of each partition (nothing produced before the first start is skipped).
    public init(
        bootstrapServers: String, groupId: String, topics: [String], properties: [String: String] = [:],
        onAssign: @escaping @Sendable ([TopicPartition]) -> Void = { _ in }, onRevoke: @escaping @Sendable ([TopicPartition]) -> Void = { _ in },
        startingOffsets: @escaping @Sendable ([TopicPartition]) -> [TopicPartition: Int64] = { _ in [:] }
    ) throws(KafkaError) {
        self.groupId = groupId
        var all = [
            "bootstrap.servers": bootstrapServers, "group.id": groupId, "enable.auto.commit": "false",
            "enable.auto.offset.store": "false", "auto.offset.reset": "earliest", "enable.partition.eof": "false",
            "fetch.wait.max.ms": "10", "queued.max.messages.kbytes": "8192",
            // A crashed host's partitions move after 6 s (the broker minimum) instead of 45 s.
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000",
        ]
        all.merge(properties) { $1 }
        let configuration = try KafkaConfiguration.make(all)
        let callbacks = Callbacks(onAssign: onAssign, onRevoke: onRevoke, startingOffsets: startingOffsets)
        self.callbacks = callbacks
        rd_kafka_conf_set_opaque(configuration, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_rebalance_cb(configuration) { client, error, partitions, opaque in
            guard let client, let opaque else { return }
            let callbacks = Unmanaged<Callbacks>.fromOpaque(opaque).takeUnretainedValue()
            let list = KafkaConsumer.partitions(partitions)
            if error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                // Positions kept elsewhere (the database, with effectively-once processing)
                // win over the group's committed offsets.
                let starts = callbacks.startingOffsets(list)
                if let partitions, !starts.isEmpty {
                    for index in 0..<Int(partitions.pointee.cnt) {
                        let element = partitions.pointee.elems[index]
                        if let offset = starts[TopicPartition(topic: String(cString: element.topic), partition: element.partition)] {
                            partitions.pointee.elems[index].offset = offset
                        }
                    }
                }
                _ = rd_kafka_assign(client, partitions)
                callbacks.onAssign(list)
            } else {
                callbacks.onRevoke(list)
                _ = rd_kafka_assign(client, nil)
            }
        }
        client = try KafkaConfiguration.client(RD_KAFKA_CONSUMER, configuration)
        _ = rd_kafka_poll_set_consumer(client)
        let subscription = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(subscription) }
        for topic in topics { rd_kafka_topic_partition_list_add(subscription, topic, RD_KAFKA_PARTITION_UA) }
        let result = rd_kafka_subscribe(client, subscription)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(client)
            throw KafkaError(result, context: "subscribe \(groupId) to \(topics)")
        }
    }

    static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }

    static func makeList(_ offsets: [TopicPartition: Int64]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition).pointee.offset = offset
        }
        return list
    }

    /// The next message, or nil when none arrived within the timeout. Errors that librdkafka
    /// recovers from itself (broker down, rebalancing) are not thrown: it retries.
    public func poll(timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaMessage? {
        // Only the polling thread calls poll and close, so `closed` needs no lock here.
        guard !closed, let raw = rd_kafka_consumer_poll(client, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(raw) }
        let error = raw.pointee.err
        if error == RD_KAFKA_RESP_ERR_NO_ERROR { return KafkaMessage(raw) }
        if error == RD_KAFKA_RESP_ERR__FATAL {
            var reason = [CChar](repeating: 0, count: 512)
            let original = rd_kafka_fatal_error(client, &reason, reason.count)
            throw KafkaError(message: "consumer \(groupId): fatal: \(String(cString: rd_kafka_err2str(original))): \(KafkaConfiguration.text(reason))")
        }
        return nil
    }

    /// Commits `offsets` (the next offset to read, per partition).
    public func commit(_ offsets: [TopicPartition: Int64], synchronous: Bool) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = Self.makeList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = try withClient(RD_KAFKA_RESP_ERR_NO_ERROR) { client throws(KafkaError) in rd_kafka_commit(client, list, synchronous ? 0 : 1) }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR || result == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(result, context: "commit for \(groupId)")
        }
    }

    /// The group's committed offsets for `partitions` (missing: nothing committed yet).
    public func committed(_ partitions: [TopicPartition], timeoutMilliseconds: Int32 = 5_000) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = Self.makeList(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = try withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in rd_kafka_committed(client, list, timeoutMilliseconds) }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, context: "committed offsets of \(groupId)") }
        var offsets: [TopicPartition: Int64] = [:]
        for index in 0..<Int(list.pointee.cnt) where list.pointee.elems[index].offset >= 0 {
            let element = list.pointee.elems[index]
            offsets[TopicPartition(topic: String(cString: element.topic), partition: element.partition)] = element.offset
        }
        return offsets
    }

    /// The next offset this consumer will read of each partition (missing: not known yet, as
    /// before the first fetch). Local, no broker round trip.
    public func positions(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let list = Self.makeList(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = (try? withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in rd_kafka_position(client, list) }) ?? RD_KAFKA_RESP_ERR__STATE
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { return [:] }
        var offsets: [TopicPartition: Int64] = [:]
        for index in 0..<Int(list.pointee.cnt) where list.pointee.elems[index].offset >= 0 {
            let element = list.pointee.elems[index]
            offsets[TopicPartition(topic: String(cString: element.topic), partition: element.partition)] = element.offset
        }
        return offsets
    }

    /// Every partition of `topics`, from the broker's metadata (nil when it cannot be had in
    /// time). A broker round trip: call it rarely.
    public func allPartitions(of topics: [String], timeoutMilliseconds: Int32 = 2_000) -> [TopicPartition]? {
        var result: [TopicPartition] = []
        for topic in topics {
            let count: Int32? = try? withClient(nil) { client throws(KafkaError) -> Int32? in
                guard let handle = rd_kafka_topic_new(client, topic, nil) else { return nil }
                defer { rd_kafka_topic_destroy(handle) }
                var metadata: UnsafePointer<rd_kafka_metadata>?
                guard rd_kafka_metadata(client, 0, handle, &metadata, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return nil }
                defer { rd_kafka_metadata_destroy(metadata) }
                guard metadata.pointee.topic_cnt == 1, metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
                return metadata.pointee.topics[0].partition_cnt
            }
            guard let count, count > 0 else { return nil }
            result += (0..<count).map { TopicPartition(topic: topic, partition: $0) }
        }
        return result
    }

    /// The partitions currently assigned to this member.
    public func assignment() -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let result = (try? withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in rd_kafka_assignment(client, &list) }) ?? RD_KAFKA_RESP_ERR__STATE
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return Self.partitions(list)
    }

    public func pause(_ partitions: [TopicPartition]) { apply(partitions) { rd_kafka_pause_partitions($0, $1) } }
    public func resume(_ partitions: [TopicPartition]) { apply(partitions) { rd_kafka_resume_partitions($0, $1) } }

    private func apply(_ partitions: [TopicPartition], _ body: (OpaquePointer, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t) {
        guard !partitions.isEmpty else { return }
        let list = Self.makeList(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = try? withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in body(client, list) }
    }

    /// Moves the read position of assigned partitions (`Int64(RD_KAFKA_OFFSET_END)` for "now").
    public func seek(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = Self.makeList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = try withClient(nil, { client throws(KafkaError) in rd_kafka_seek_partitions(client, list, 5_000) }) {
            let message = String(cString: rd_kafka_error_string(error))
            rd_kafka_error_destroy(error)
            throw KafkaError(message: "seek for \(groupId): \(message)")
        }
    }

    /// The offset after the last message in each partition (the "high watermark").
    public func endOffsets(_ partitions: [TopicPartition], timeoutMilliseconds: Int32 = 5_000) -> [TopicPartition: Int64] {
        var offsets: [TopicPartition: Int64] = [:]
        for partition in partitions {
            var low: Int64 = 0, high: Int64 = 0
            let result = (try? withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in
                rd_kafka_query_watermark_offsets(client, partition.topic, partition.partition, &low, &high, timeoutMilliseconds)
            }) ?? RD_KAFKA_RESP_ERR__STATE
            if result == RD_KAFKA_RESP_ERR_NO_ERROR {
                offsets[partition] = high
            }
        }
        return offsets
    }

    /// The high watermarks from the latest fetch responses, without asking the broker.
    public func cachedEndOffsets(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        var offsets: [TopicPartition: Int64] = [:]
        for partition in partitions {
            var low: Int64 = 0, high: Int64 = 0
            let result = (try? withClient(RD_KAFKA_RESP_ERR__STATE) { client throws(KafkaError) in
                rd_kafka_get_watermark_offsets(client, partition.topic, partition.partition, &low, &high)
            }) ?? RD_KAFKA_RESP_ERR__STATE
            if result == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 {
                offsets[partition] = high
            }
        }
        return offsets
    }

    /// Leaves the group (revoking partitions through the callback) and destroys the client.
    /// Must be called from the polling thread or after it has stopped.
    public func close() {
        clientLock.lock()
        defer { clientLock.unlock() }
        guard !closed else { return }
        _ = rd_kafka_consumer_close(client)  // runs the revoke callback on this thread
        closed = true
        rd_kafka_destroy(client)
    }

    deinit { close() }
}

/// librdkafka's logical offsets, for `seek`.
public enum KafkaOffsets {
    public static let end = Int64(RD_KAFKA_OFFSET_END)
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
}
