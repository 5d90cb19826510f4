import CRdKafka
import Foundation

/// librdkafka's mock Kafka cluster running inside this process and speaking the Kafka protocol
/// over TCP on loopback, so other processes (kcat, pos-loadgen, tests) can use it. What
/// `kafka.bootstrap_servers: embedded` starts; never for production.
public final class EmbeddedKafkaCluster: @unchecked Sendable {
    // @unchecked: the mock cluster runs its own thread; these pointers are only destroyed in close().
    private let owner: OpaquePointer
    private var cluster: OpaquePointer?
    /// `host:port,...` of the mock brokers.
    public let bootstrapServers: String

    public init(brokers: Int = 1, topics: [(name: String, partitions: Int)]) throws(KafkaError) {
        // The mock cluster needs a client handle to live in; a producer handle is enough.
        let configuration = try KafkaConfiguration.make(["log_level": "3"])
        owner = try KafkaConfiguration.client(RD_KAFKA_PRODUCER, configuration)
        guard let cluster = rd_kafka_mock_cluster_new(owner, Int32(brokers)) else {
            rd_kafka_destroy(owner)
            throw KafkaError(message: "cannot start the embedded Kafka cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        // Clients other than librdkafka mis-read the mock's ListOffsets v5+ answers (measured).
        _ = rd_kafka_mock_set_apiversion(cluster, 2, 0, 3)
        for topic in topics {
            let result = rd_kafka_mock_topic_create(cluster, topic.name, Int32(topic.partitions), Int32(min(brokers, 3)))
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, context: "create topic \(topic.name)") }
        }
    }

    /// Takes broker `id` (1-based) down or up, to test clients through an outage.
    public func setBroker(_ id: Int32, up: Bool) {
        guard let cluster else { return }
        _ = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id)
    }

    public func close() {
        guard let cluster else { return }
        rd_kafka_mock_cluster_destroy(cluster)
        self.cluster = nil
        rd_kafka_destroy(owner)
    }

    deinit { close() }
}
