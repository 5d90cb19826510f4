import Foundation
import Testing

@testable import PluginHost

@Suite struct EventDecoderTests {
    let decoder = EventDecoder(maxEventBytes: 512, clock: ManualClock(milliseconds: 42))

    func reject(_ text: String) throws -> String {
        try #require(throws: EventDecoder.Rejection.self) { try decoder.decode(Array(text.utf8)) }.reason
    }

    @Test func normalisesTheOriginalFlatShape() throws {
        let raw = #"{"event_type": "item.added", "timestamp": "2026-11-25T09:01:10.123456", "basket_id": "basket_1a2b3c4d", "terminal_id": "TERM001", "product_id": "BEER", "price": 4.99}"#
        let event = try decoder.decode(Array(raw.utf8))
        #expect(event.type == "ITEM_ADDED")
        #expect(event.key == "basket_1a2b3c4d")
        #expect(event.timeMilliseconds == 1_795_597_270_123)
        #expect(try JSONValue.parse(event.payload) == .object(["basket_id": .string("basket_1a2b3c4d"), "terminal_id": .string("TERM001"), "product_id": .string("BEER"), "price": .number(4.99)]))
        // The same input always gets the same id.
        #expect(try decoder.decode(Array(raw.utf8)).id == event.id)
        #expect(UUID(uuidString: event.id) != nil)
    }

    @Test func keyFallsBackToTheTerminal() throws {
        let event = try decoder.decode(Array(#"{"event_type": "EMPLOYEE_LOGIN", "timestamp": "2026-11-25T09:00:00+01:00", "employee_id": "1", "terminal_id": "TERM001"}"#.utf8))
        #expect(event.key == "TERM001")
        #expect(event.timeMilliseconds == 1_795_593_600_000)
    }

    @Test func acceptsTheEnvelope() throws {
        let event = try decoder.decode(
            Array(#"{"id": "e-1", "type": "ITEM_ADDED", "schema_version": 1, "time_ms": 1000, "causation_id": "c-0", "correlation_id": "basket-flow-9", "payload": {"basket_id": "b-9", "product_id": "P", "price": 1}}"#.utf8))
        #expect(event.id == "e-1" && event.type == "ITEM_ADDED" && event.key == "b-9" && event.timeMilliseconds == 1000)
        #expect(event.causationId == "c-0" && event.correlationId == "basket-flow-9")
        #expect(try JSONValue.parse(event.payload) == .object(["basket_id": .string("b-9"), "product_id": .string("P"), "price": .number(1)]))
        // Without any time the receive time (host clock) is used.
        #expect(try decoder.decode(Array(#"{"type": "BASKET_CLOSED", "payload": {"basket_id": "b"}}"#.utf8)).timeMilliseconds == 42)
        #expect(try reject(#"{"type": "BASKET_CLOSED", "schema_version": 2, "payload": {"basket_id": "b"}}"#).contains("schema_version 2 is not supported"))
    }

    @Test func mapsTheOriginalsNamesAndFieldsToTheCatalog() throws {
        let payment = try decoder.decode(Array(#"{"event_type": "payment.completed", "basket_id": "b1", "total_amount": 1200.5, "payment_method": "CARD"}"#.utf8))
        #expect(payment.type == "PAYMENT_PROCESSED")
        #expect(try JSONValue.parse(payment.payload) == .object(["basket_id": .string("b1"), "amount": .number(1200.5), "payment_method": .string("CARD")]))
        #expect(try decoder.decode(Array(#"{"event_type": "PAYMENT_COMPLETED", "basket_id": "b1", "amount": 3}"#.utf8)).type == "PAYMENT_PROCESSED")
        #expect(try decoder.decode(Array(#"{"event_type": "age.verified", "basket_id": "b1", "customer_age": 34, "verification_method": "ID_SCAN"}"#.utf8)).payload
            == JSONValue.object(["basket_id": .string("b1"), "customer_age": .number(34), "method": .string("ID_SCAN")]).jsonBytes)
        #expect(try reject(#"{"event_type": "payment.completed", "basket_id": "b1"}"#) == "PAYMENT_PROCESSED: missing required field 'amount'")
        #expect(try reject(#"{"event_type": "ITEM_ADDED", "basket_id": "b1", "product_id": "P", "quantity": 1.5}"#) == "ITEM_ADDED: field 'quantity' must be a whole number within 2^53, got number 1.5")
        #expect(try reject(#"{"event_type": "EMPLOYEE_LOGIN", "employee_id": true, "terminal_id": "T"}"#) == "EMPLOYEE_LOGIN: field 'employee_id' must be an id (text, or a whole number within 2^53), got boolean true")
        #expect(try reject(#"{"event_type": "TELEPORTED", "basket_id": "b1"}"#).hasPrefix("unknown event type 'TELEPORTED'"))
        let lenient = EventDecoder(maxEventBytes: 512, clock: ManualClock(), acceptUnknownTypes: true)
        #expect(try lenient.decode(Array(#"{"event_type": "TELEPORTED", "basket_id": "b1"}"#.utf8)).type == "TELEPORTED")
    }

    @Test func explainsEveryKindOfMalformedInput() throws {
        #expect(try reject("not json at all").hasPrefix("not JSON:"))
        #expect(try reject("[1, 2]") == "not a JSON object (got array)")
        #expect(try reject(#"{"price": 1}"#).hasPrefix("no event type"))
        #expect(try reject(#"{"event_type": 7}"#) == #""event_type" must be a string"#)
        #expect(try reject(#"{"event_type": "DROP TABLE;"}"#).contains("is not a valid event type name"))
        #expect(try reject(#"{"type": "BASKET_CLOSED", "payload": [1]}"#) == #""payload" must be a JSON object"#)
        #expect(try reject(#"{"event_type": "BASKET_CLOSED", "basket_id": "b", "timestamp": "yesterday"}"#).contains("is not an ISO 8601 timestamp"))
        #expect(try reject(String(repeating: " ", count: 600)).hasPrefix("oversize: 600 bytes"))
        let invalidUTF8: [UInt8] = Array(#"{"event_type": "X", "name": ""#.utf8) + [0xff, 0xfe] + Array(#""}"#.utf8)
        #expect(throws: EventDecoder.Rejection(reason: "not valid UTF-8")) { try decoder.decode(invalidUTF8) }
    }
}

@Suite struct JSONLinesEventSourceTests {
    @Test func readsLinesSkipsCommentsAndKeepsMalformedOnesWithTheirLineNumber() throws {
        let directory = TestSupport.temporaryDirectory("source")
        let path = directory + "/events.jsonl"
        TestSupport.write(
            """
            # a comment
            {"event_type": "A", "basket_id": "b"}

            garbage
            {"event_type": "B", "basket_id": "b"}\r
            \(String(repeating: "x", count: 5000))
            {"event_type": "C", "basket_id": "b"}
            """, to: path)
        let source = try JSONLinesEventSource(path: path, decoder: EventDecoder(maxEventBytes: 1000, clock: ManualClock(), acceptUnknownTypes: true))
        var seen: [String] = []
        while let record = try source.next() {
            switch record {
            case .event(let event): seen.append(event.type)
            case .malformed(_, let reason, let origin): seen.append("bad@\(origin.split(separator: ":").last!):\(reason.prefix(8))")
            }
        }
        #expect(seen == ["A", "bad@4:not JSON", "B", "bad@6:oversize", "C"])
    }
}
