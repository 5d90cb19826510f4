import CRdKafka
import Foundation

/// An error reported by librdkafka, with its message.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { message }

    public init(_ code: rd_kafka_resp_err_t, context: String) {
        self.code = code.rawValue
        message = "\(context): \(String(cString: rd_kafka_err2str(code)))"
    }

    public init(message: String) {
        code = -1
        self.message = message
    }
}

/// Builds an `rd_kafka_conf_t` from properties (librdkafka's CONFIGURATION.md names).
public enum KafkaConfiguration {
    /// The NUL-terminated text in an error buffer.
    public static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        let configuration = rd_kafka_conf_new()!
        var error = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(configuration, name, value, &error, error.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(configuration)
                throw KafkaError(message: "kafka setting \(name)=\(value): \(text(error))")
            }
        }
        return configuration
    }

    /// Creates a client; the configuration is consumed on success and destroyed on failure.
    public static func client(_ type: rd_kafka_type_t, _ configuration: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var error = [CChar](repeating: 0, count: 512)
        guard let client = rd_kafka_new(type, configuration, &error, error.count) else {
            rd_kafka_conf_destroy(configuration)
            throw KafkaError(message: "cannot create kafka client: \(text(error))")
        }
        return client
    }
}

/// A message read from Kafka, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    /// Header values by name (the last one wins for repeated names).
    public var headers: [String: [UInt8]]
    public var timestampMilliseconds: Int64?

    public init(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let message = raw.pointee
        topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        partition = message.partition
        offset = message.offset
        key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
        value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
        var headers: [String: [UInt8]] = [:]
        var list: OpaquePointer?
        if rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name { headers[String(cString: name)] = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] }
                index += 1
            }
        }
        self.headers = headers
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &type)
        timestampMilliseconds = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
    }

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [String: [UInt8]] = [:], timestampMilliseconds: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }
}
