import Foundation
import Testing

@testable import PluginHost

@Suite struct EventDecoderTests {
    let decoder = EventDecoder(maxEventBytes: 512, clock: ManualClock(milliseconds: 42))

    func reject(_ text: String) throws -> String {
        try #require(throws: EventDecoder.Rejection.self) { try decoder.decode(Array(text.utf8)) }.reason
    }

    @Test func acceptsTheOriginalFlatShape() throws {
        let raw = #"{"event_type": "item.added", "timestamp": "2026-11-25T09:01:10.123456", "basket_id": "basket_1a2b3c4d", "terminal_id": "TERM001", "price": 4.99}"#
        let event = try decoder.decode(Array(raw.utf8))
        #expect(event.type == "item.added")
        #expect(event.key == "basket_1a2b3c4d")
        #expect(event.timeMilliseconds == 1_795_597_270_123)
        #expect(event.payload == Array(raw.utf8))
        // The same input always gets the same id.
        #expect(try decoder.decode(Array(raw.utf8)).id == event.id)
        #expect(UUID(uuidString: event.id) != nil)
    }

    @Test func keyFallsBackToTheTerminal() throws {
        let event = try decoder.decode(Array(#"{"event_type": "EMPLOYEE_LOGIN", "timestamp": "2026-11-25T09:00:00+01:00", "employee_id": 1, "terminal_id": "TERM001"}"#.utf8))
        #expect(event.key == "TERM001")
        #expect(event.timeMilliseconds == 1_795_593_600_000)
    }

    @Test func acceptsTheEnvelope() throws {
        let event = try decoder.decode(
            Array(#"{"id": "e-1", "type": "ITEM_ADDED", "time_ms": 1000, "causation_id": "c-0", "payload": {"basket_id": "b-9", "price": 1}}"#.utf8))
        #expect(event.id == "e-1" && event.type == "ITEM_ADDED" && event.key == "b-9" && event.timeMilliseconds == 1000)
        #expect(event.causationId == "c-0")
        #expect(try JSONValue.parse(event.payload) == .object(["basket_id": .string("b-9"), "price": .number(1)]))
        // Without any time the receive time (host clock) is used.
        #expect(try decoder.decode(Array(#"{"type": "X", "payload": {}}"#.utf8)).timeMilliseconds == 42)
    }

    @Test func explainsEveryKindOfMalformedInput() throws {
        #expect(try reject("not json at all").hasPrefix("not JSON:"))
        #expect(try reject("[1, 2]") == "not a JSON object (got array)")
        #expect(try reject(#"{"price": 1}"#).hasPrefix("no event type"))
        #expect(try reject(#"{"event_type": 7}"#) == #""event_type" must be a string"#)
        #expect(try reject(#"{"event_type": "DROP TABLE;"}"#).contains("is not a valid event type name"))
        #expect(try reject(#"{"type": "X", "payload": [1]}"#) == #""payload" must be a JSON object"#)
        #expect(try reject(#"{"event_type": "X", "timestamp": "yesterday"}"#).contains("is not an ISO 8601 timestamp"))
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
        let source = try JSONLinesEventSource(path: path, decoder: EventDecoder(maxEventBytes: 1000, clock: ManualClock()))
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
