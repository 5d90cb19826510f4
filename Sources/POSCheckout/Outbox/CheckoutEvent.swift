import Foundation
import POSPlatform

/// An event pos-api publishes, as an envelope v1 (docs/events.md). Keyed by the terminal, so a
/// till's events (its logins and all its baskets) stay in one partition, in order. Event time
/// is pos-api's clock when the change commits: the API is where these things happen.
public struct CheckoutEvent: Sendable, Equatable {
    public var id: String
    public var type: String
    public var key: String
    public var timeMilliseconds: Int64
    public var correlationId: String?
    public var payload: [String: JSONValue]

    public init(type: String, terminalId: String, correlationId: String? = nil, payload: [String: JSONValue], at time: Int64 = CheckoutClock.nowMilliseconds()) {
        id = UUID().uuidString.lowercased()
        self.type = type
        key = terminalId
        timeMilliseconds = time
        self.correlationId = correlationId
        self.payload = payload
    }

    /// The record value: the envelope's JSON.
    public var value: [UInt8] {
        var envelope: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "schema_version": .number(1), "time_ms": .number(Double(timeMilliseconds)),
            "key": .string(key), "source": .string("pos-api"), "payload": .object(payload),
        ]
        if let correlationId { envelope["correlation_id"] = .string(correlationId) }
        return Array(JSONValue.object(envelope).jsonText.utf8)
    }

    /// The headers the host routes by without parsing the value.
    public var headers: [(String, [UInt8])] {
        var list: [(String, [UInt8])] = [("pos.type", Array(type.utf8)), ("pos.id", Array(id.utf8)), ("pos.schema_version", Array("1".utf8)), ("pos.source", Array("pos-api".utf8))]
        if let correlationId { list.append(("pos.correlation_id", Array(correlationId.utf8))) }
        return list
    }
}

/// Wall-clock milliseconds. pos-api is a producer: its events take their time from here.
public enum CheckoutClock {
    public static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// Where a published event landed: what a caller passes back when it asks a plugin for a
/// decision that must reflect it.
public struct PublishedPosition: Sendable, Equatable, Codable {
    public var topic: String
    public var partition: Int
    public var offset: Int
    public var eventId: String
}
