import CRdKafka
import Foundation
import KafkaShim
import Synchronization

/// An idempotent Kafka producer. Messages are copied; delivery is confirmed asynchronously and
/// counted (a failed delivery after librdkafka's own retries is counted and reported through
/// `onDeliveryFailure`, never dropped silently). A background thread serves delivery reports.
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked: `client` is thread-safe (librdkafka's contract); the rest is atomics or immutable.
    public let client: OpaquePointer
    private let delivered = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)
    private let callbacks: Callbacks

    public final class Callbacks: @unchecked Sendable {
        // Set once before the client exists; read from librdkafka's callback thread.
        public var onDeliveryFailure: (@Sendable (String) -> Void)?
        weak var producer: KafkaProducer?
    }

    /// `properties` override the defaults (idempotence on, acks=all, 5 ms linger).
    public init(bootstrapServers: String, properties: [String: String] = [:], onDeliveryFailure: (@Sendable (String) -> Void)? = nil) throws(KafkaError) {
        var all = ["bootstrap.servers": bootstrapServers, "enable.idempotence": "true", "acks": "all", "linger.ms": "5", "message.timeout.ms": "30000"]
        all.merge(properties) { $1 }
        let configuration = try KafkaConfiguration.make(all)
        let callbacks = Callbacks()
        callbacks.onDeliveryFailure = onDeliveryFailure
        self.callbacks = callbacks
        rd_kafka_conf_set_opaque(configuration, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(configuration) { _, message, opaque in
            guard let message, let opaque else { return }
            let callbacks = Unmanaged<Callbacks>.fromOpaque(opaque).takeUnretainedValue()
            guard let producer = callbacks.producer else { return }
            if let report = message.pointee._private {
                let box = Unmanaged<DeliveryReport>.fromOpaque(report).takeRetainedValue()
                box.call(message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR
                    ? .success(KafkaDelivery(partition: message.pointee.partition, offset: message.pointee.offset))
                    : .failure(KafkaError(message.pointee.err, context: "delivery")))
            }
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                producer.delivered.wrappingAdd(1, ordering: .relaxed)
            } else {
                producer.failed.wrappingAdd(1, ordering: .relaxed)
                let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
                callbacks.onDeliveryFailure?("delivery to \(topic) failed: \(String(cString: rd_kafka_err2str(message.pointee.err)))")
            }
        }
        client = try KafkaConfiguration.client(RD_KAFKA_PRODUCER, configuration)
        callbacks.producer = self
        Thread.detachNewThread { [self] in
            while running.load(ordering: .relaxed) { rd_kafka_poll(client, 100) }
            finished.signal()
        }
    }

    /// Queues a message. Waits (serving delivery reports) while librdkafka's queue is full.
    public func produce(topic: String, partition: Int32 = -1, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) throws(KafkaError) {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, report: nil)
    }

    /// Queues a message and calls `onDelivered` (on the delivery-report thread) with where the
    /// broker stored it, or why it could not, after librdkafka's own retries.
    public func produce(
        topic: String, partition: Int32 = -1, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = [],
        onDelivered: @escaping @Sendable (Result<KafkaDelivery, KafkaError>) -> Void
    ) throws(KafkaError) {
        try produce(topic: topic, partition: partition, key: key, value: value, headers: headers, report: DeliveryReport(onDelivered))
    }

    private func produce(topic: String, partition: Int32, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])], report: DeliveryReport?) throws(KafkaError) {
        // Retained for librdkafka; the delivery callback releases it (or this function, when
        // the message was never queued).
        let opaque = report.map { Unmanaged.passRetained($0).toOpaque() }
        while true {
            let list: OpaquePointer? = headers.isEmpty ? nil : rd_kafka_headers_new(headers.count)
            for (name, value) in headers {
                _ = value.withUnsafeBytes { rd_kafka_header_add(list, name, -1, $0.baseAddress, $0.count) }
            }
            let result = (key ?? []).withUnsafeBytes { keyBytes in
                value.withUnsafeBytes { valueBytes in
                    pos_kafka_produce(
                        client, topic, partition, key == nil ? nil : keyBytes.baseAddress, key?.count ?? 0, valueBytes.baseAddress,
                        valueBytes.count, list, opaque)
                }
            }
            if result == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            if let list { rd_kafka_headers_destroy(list) }
            guard result == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                if let opaque { Unmanaged<DeliveryReport>.fromOpaque(opaque).release() }
                throw KafkaError(result, context: "produce to \(topic)")
            }
            rd_kafka_poll(client, 10)
        }
    }

    /// Waits until everything queued is delivered (or failed), up to `timeoutMilliseconds`.
    public func flush(timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) {
        let result = rd_kafka_flush(client, timeoutMilliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(result, context: "flush") }
    }

    public var deliveredCount: Int { delivered.load(ordering: .relaxed) }
    public var failedCount: Int { failed.load(ordering: .relaxed) }

    /// Flushes, then stops the delivery-report thread and destroys the client.
    public func close() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        _ = rd_kafka_flush(client, 10_000)
        finished.wait()
        rd_kafka_destroy(client)
    }

    deinit { close() }
}

/// Where the broker stored a produced message.
public struct KafkaDelivery: Sendable, Equatable {
    public var partition: Int32
    public var offset: Int64
    public init(partition: Int32, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// A produce call's completion, carried through librdkafka as the message's opaque pointer.
final class DeliveryReport: Sendable {
    let call: @Sendable (Result<KafkaDelivery, KafkaError>) -> Void
    init(_ call: @escaping @Sendable (Result<KafkaDelivery, KafkaError>) -> Void) { self.call = call }
}
