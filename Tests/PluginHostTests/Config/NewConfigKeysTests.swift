import Testing

@testable import PluginHost

/// The keys added for Kafka, metrics and event types: each wrong value is an error with its position.
@Suite struct NewConfigKeysTests {
    func error(_ text: String) throws -> ConfigError {
        try #require(throws: ConfigError.self) { try HostConfig.parse(text, path: "c.yaml") }
    }

    @Test func parsesTheKafkaSection() throws {
        let config = try HostConfig.parse(
            """
            metrics_listen: "127.0.0.1:9464"
            events: {unknown_types: accept}
            kafka:
              bootstrap_servers: "b1:9092,b2:9092"
              topics: [store-1, store-2]
              group_prefix: pos
              dead_letter_suffix: .dead
              emit_topic: store-out
              fetch_wait_ms: 25
              embedded_partitions: 6
              properties: {security.protocol: ssl, socket.keepalive.enable: true}
            """, path: "c.yaml")
        let kafka = try #require(config.kafka)
        #expect(kafka.bootstrapServers == "b1:9092,b2:9092" && kafka.topics == ["store-1", "store-2"] && kafka.groupPrefix == "pos")
        #expect(kafka.deadLetterSuffix == ".dead" && kafka.effectiveEmitTopic == "store-out" && kafka.fetchWaitMilliseconds == 25)
        #expect(kafka.embeddedPartitions == 6 && kafka.properties == ["security.protocol": "ssl", "socket.keepalive.enable": "true"])
        #expect(config.metricsListen == "127.0.0.1:9464" && config.acceptUnknownEventTypes)
        #expect(try HostConfig.parse("kafka: {}\n", path: "c.yaml").kafka?.effectiveEmitTopic == "pos-events")
        #expect(try HostConfig.parse("", path: "c.yaml").kafka == nil)
    }

    @Test func rejectsWrongValuesWhereTheyStand() throws {
        #expect(try error("kafka:\n  topics: []\n").description == "c.yaml:2:11: 'topics' must be a non-empty list of topic names")
        #expect(try error("kafka:\n  fetch_wait_ms: 0\n").message == "'fetch_wait_ms' must be between 1 and 5000")
        #expect(try error("kafka:\n  properties: {a: [1]}\n").message == "kafka property 'a' must be a scalar")
        #expect(try error("kafka:\n  bootstrap: x\n").message.hasPrefix("unknown key 'bootstrap'"))
        #expect(try error("metrics_listen: 9464\n").message.contains("host:port"))
        #expect(try error("events: {unknown_types: maybe}\n").message == "'unknown_types' must be reject or accept")
        let onEnable = try #require(throws: ConfigError.self) { try PluginConfig.parse("on_enable: later\n", name: "a", directory: "/p", path: "a.yaml") }
        #expect(onEnable.description.hasPrefix("a.yaml:1:12: 'on_enable' must be resume"))
        #expect(try PluginConfig.parse("on_enable: latest\n", name: "a", directory: "/p", path: "a.yaml").onEnable == .latest)
    }
}
