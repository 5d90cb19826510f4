import Foundation
import Testing

@testable import PluginHost

/// The Kafka clients against librdkafka's mock cluster over TCP.
@Suite(.serialized) struct KafkaClientTests {
    /// Reads until `count` messages arrived or `seconds` passed.
    static func drain(_ consumer: KafkaConsumer, count: Int, seconds: Double = 20) throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        let deadline = Date(timeIntervalSinceNow: seconds)
        while messages.count < count, Date() < deadline {
            if let message = try consumer.poll(timeoutMilliseconds: 100) { messages.append(message) }
        }
        return messages
    }

    @Test func producesAndConsumesWithHeadersAndResumesFromCommittedOffsets() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("orders", 3)])
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        for index in 0..<30 {
            try producer.produce(topic: "orders", key: Array("basket_\(index % 4)".utf8), value: Array("{\"n\": \(index)}".utf8), headers: [("pos.type", Array("ITEM_ADDED".utf8))])
        }
        try producer.flush()
        #expect(producer.deliveredCount == 30 && producer.failedCount == 0)

        let first = try KafkaConsumer(bootstrapServers: cluster.bootstrapServers, groupId: "test.first", topics: ["orders"])
        let messages = try Self.drain(first, count: 30)
        #expect(messages.count == 30)
        #expect(messages.allSatisfy { $0.headers["pos.type"] == Array("ITEM_ADDED".utf8) && $0.topic == "orders" })
        // One key, one partition, in order.
        let basket0 = messages.filter { $0.key == Array("basket_0".utf8) }
        #expect(Set(basket0.map(\.partition)).count == 1)
        #expect(basket0.map { String(decoding: $0.value, as: UTF8.self) } == stride(from: 0, to: 30, by: 4).map { "{\"n\": \($0)}" })

        // Commit only the first 10 of each partition's messages, then a new member resumes there.
        var commits: [TopicPartition: Int64] = [:]
        for message in messages where message.offset < 5 {
            let position = TopicPartition(topic: message.topic, partition: message.partition)
            commits[position] = max(commits[position] ?? 0, message.offset + 1)
        }
        try first.commit(commits, synchronous: true)
        first.close()
        let second = try KafkaConsumer(bootstrapServers: cluster.bootstrapServers, groupId: "test.first", topics: ["orders"])
        let rest = try Self.drain(second, count: 30 - commits.values.reduce(0) { $0 + Int($1) }, seconds: 30)
        #expect(rest.count == 30 - commits.values.reduce(0) { $0 + Int($1) })
        #expect(rest.allSatisfy { $0.offset >= 5 })
        second.close()
        producer.close()
        cluster.close()
    }

    @Test func aClosedConsumerRefusesCallsInsteadOfCrashing() throws {
        let cluster = try EmbeddedKafkaCluster(topics: [("orders", 3)])
        let consumer = try KafkaConsumer(bootstrapServers: cluster.bootstrapServers, groupId: "test.closed", topics: ["orders"])
        _ = try consumer.poll(timeoutMilliseconds: 100)
        consumer.close()
        // Each of these used the destroyed client before (a SIGSEGV at host shutdown).
        let partition = TopicPartition(topic: "orders", partition: 0)
        #expect(consumer.assignment().isEmpty)
        consumer.pause([partition])
        consumer.resume([partition])
        try consumer.commit([partition: 1], synchronous: true)
        #expect(consumer.cachedEndOffsets([partition]).isEmpty)
        #expect(try consumer.poll(timeoutMilliseconds: 10) == nil)
        consumer.close()
        cluster.close()
    }

    @Test func otherProcessesReachTheEmbeddedClusterOverTCP() throws {
        let kcat = "/usr/bin/kcat"
        try #require(FileManager.default.isExecutableFile(atPath: kcat), "kcat is not installed")
        let cluster = try EmbeddedKafkaCluster(topics: [("pos-events", 3)])
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        try producer.produce(topic: "pos-events", key: Array("k".utf8), value: Array("hello over tcp".utf8))
        try producer.flush()
        let listing = try TestSupport.capture(kcat, ["-b", cluster.bootstrapServers, "-L", "-t", "pos-events"])
        #expect(listing.status == 0 && listing.output.contains("topic \"pos-events\" with 3 partitions"))
        let consumed = try TestSupport.capture(kcat, ["-b", cluster.bootstrapServers, "-C", "-t", "pos-events", "-o", "beginning", "-c", "1", "-e", "-q"])
        #expect(consumed.output == "hello over tcp\n")
        producer.close()
        cluster.close()
    }
}
