import CRdKafka
import Foundation

/// Reads every partition of one topic without joining a consumer group, from a little before
/// the end, on a thread of its own: what each pos-api instance runs to see every event (a group
/// would split the partitions between instances, and each needs them all). Nothing is ever
/// committed; where to start is decided at each start (the last `backlog` records of each
/// partition), so a restarted instance refills its recent-history buffer.
public final class KafkaTail: @unchecked Sendable {
    // @unchecked: `client` is used by the reading thread, and by `stop()` only after it ended.
    public let topic: String
    private let client: OpaquePointer
    private let stopped = AtomicFlag()
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    private var closed = false

    /// Connects (no broker round trip yet). `properties` are librdkafka's, over sane defaults.
    public init(bootstrapServers: String, topic: String, properties: [String: String] = [:]) throws(KafkaError) {
        self.topic = topic
        var all = [
            "bootstrap.servers": bootstrapServers,
            // Required by librdkafka for a consumer; never joined (no subscribe) and never committed.
            "group.id": "pos-api-live", "enable.auto.commit": "false", "enable.auto.offset.store": "false",
            "enable.partition.eof": "false", "fetch.wait.max.ms": "5", "fetch.error.backoff.ms": "50",
        ]
        all.merge(properties) { $1 }
        client = try KafkaConfiguration.client(RD_KAFKA_CONSUMER, try KafkaConfiguration.make(all))
        _ = rd_kafka_poll_set_consumer(client)
    }

    /// Starts reading: waits for the topic's partitions (retrying while the cluster or topic is
    /// not there yet), assigns each from `backlog` records before its end, then calls
    /// `onStart` with where each partition starts and `onMessage` for every record, in order
    /// within a partition, on the reading thread.
    public func start(
        backlog: Int64, onStart: @escaping @Sendable ([Int32: Int64]) -> Void, onMessage: @escaping @Sendable (KafkaMessage) -> Void,
        onProblem: @escaping @Sendable (String) -> Void
    ) {
        started = true
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            var starts: [Int32: Int64] = [:]
            while !stopped.isSet {
                if let found = startingOffsets(backlog: backlog) {
                    starts = found
                    break
                }
                onProblem("topic \(topic) not readable yet; retrying")
                for _ in 0..<10 where !stopped.isSet { usleep(100_000) }
            }
            guard !stopped.isSet else { return }
            let list = rd_kafka_topic_partition_list_new(Int32(starts.count))!
            for (partition, offset) in starts { rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset }
            let assigned = rd_kafka_assign(client, list)
            rd_kafka_topic_partition_list_destroy(list)
            guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else {
                onProblem("cannot read \(topic): \(String(cString: rd_kafka_err2str(assigned)))")
                return
            }
            onStart(starts)
            while !stopped.isSet {
                // A long poll: an idle reader wakes ten times a second, not a hundred.
                guard let raw = rd_kafka_consumer_poll(client, 100) else { continue }
                if raw.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let message = KafkaMessage(raw)
                    rd_kafka_message_destroy(raw)
                    onMessage(message)
                } else {
                    let error = raw.pointee.err
                    rd_kafka_message_destroy(raw)
                    if error != RD_KAFKA_RESP_ERR__PARTITION_EOF { onProblem("reading \(topic): \(String(cString: rd_kafka_err2str(error)))") }
                }
            }
        }
    }

    /// For each partition, `backlog` records before its high watermark (not before its low one).
    private func startingOffsets(backlog: Int64) -> [Int32: Int64]? {
        guard let handle = rd_kafka_topic_new(client, topic, nil) else { return nil }
        defer { rd_kafka_topic_destroy(handle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        guard rd_kafka_metadata(client, 0, handle, &metadata, 2_000) == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return nil }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1, metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let count = metadata.pointee.topics[0].partition_cnt
        guard count > 0 else { return nil }
        var starts: [Int32: Int64] = [:]
        for partition in 0..<count {
            var low: Int64 = 0, high: Int64 = 0
            guard rd_kafka_query_watermark_offsets(client, topic, partition, &low, &high, 2_000) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            starts[partition] = max(low, high - backlog)
        }
        return starts
    }

    /// Stops the reading thread and closes the client.
    public func stop() {
        guard !closed else { return }
        closed = true
        stopped.set()
        if started { finished.wait() }
        started = false
        rd_kafka_destroy(client)
    }
}
