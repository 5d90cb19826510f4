import Foundation
import Logging
import Testing

@testable import PluginHost

/// Input a hostile or broken producer sends: each is a rejection with a reason naming the
/// catalog's field, never a trap (at fe496d1 `"time_ms": 1e30` killed the host with SIGILL).
@Suite struct HostileInputTests {
    let decoder = EventDecoder(maxEventBytes: 1 << 20, clock: ManualClock(milliseconds: 42))

    func reject(_ text: String) -> String? {
        do {
            _ = try decoder.decode(Array(text.utf8))
            return nil
        } catch { return error.reason }
    }

    @Test(arguments: ["1e30", "-1e30", "1e300", "-1", "12.5", "9007199254741000", "\"soon\"", "true"])
    func outOfRangeEventTimesAreRejected(time: String) {
        let reason = reject(#"{"type": "BASKET_CLOSED", "time_ms": \#(time), "payload": {"basket_id": "b"}}"#)
        #expect(reason?.contains("time_ms") == true, "\(time): \(reason ?? "accepted")")
    }

    @Test func outOfRangeEnvelopeNumbersAndIdsAreRejected() {
        #expect(reject(#"{"type": "BASKET_CLOSED", "schema_version": 1e300, "payload": {"basket_id": "b"}}"#)?.contains("schema_version") == true)
        #expect(reject(#"{"type": "BASKET_CLOSED", "schema_version": -1e300, "payload": {"basket_id": "b"}}"#)?.contains("schema_version") == true)
        #expect(reject(#"{"id": 1e300, "type": "BASKET_CLOSED", "payload": {"basket_id": "b"}}"#)?.contains("\"id\"") == true)
        #expect(reject(#"{"type": "BASKET_CLOSED", "key": -1e30, "payload": {"basket_id": "b"}}"#)?.contains("\"key\"") == true)
        #expect(reject(#"{"type": "BASKET_CLOSED", "causation_id": 1e19, "payload": {"basket_id": "b"}}"#)?.contains("causation_id") == true)
        #expect(reject(#"{"event_type": "BASKET_CLOSED", "event_id": 1e25, "basket_id": "b"}"#)?.contains("event_id") == true)
        #expect(reject(#"{"id": "a\u0000b", "type": "BASKET_CLOSED", "payload": {"basket_id": "b"}}"#)?.contains("control character") == true)
        #expect(reject(#"{"id": "\#(String(repeating: "x", count: 300))", "type": "BASKET_CLOSED", "payload": {"basket_id": "b"}}"#)?.contains("longer than") == true)
        // Found by the fuzzer: an empty id was accepted (and an event id must identify it).
        #expect(reject(#"{"id": "", "type": "BASKET_CLOSED", "payload": {"basket_id": "b"}}"#) == "\"id\" must not be empty")
        #expect(reject(#"{"event_type": "BASKET_CLOSED", "event_id": "", "basket_id": "b"}"#) == "\"event_id\" must not be empty")
        // Numeric ids within 2^53 still work (the original sent them).
        #expect(reject(#"{"event_type": "EMPLOYEE_LOGIN", "employee_id": 7, "terminal_id": "T1", "event_id": 12}"#) == nil)
    }

    @Test func numbersAndIdsOfTheFlatFormatAreChecked() {
        // basket_id as a huge number: the routing key used to trap on Int64(1e30).
        #expect(reject(#"{"event_type": "BASKET_CLOSED", "basket_id": 1e30}"#)?.contains("basket_id") == true)
        #expect(reject(#"{"event_type": "EMPLOYEE_LOGIN", "employee_id": 1e300, "terminal_id": "T1"}"#) == "EMPLOYEE_LOGIN: field 'employee_id' must be an id (text, or a whole number within 2^53), got number 1e+300")
        #expect(reject(#"{"event_type": "EMPLOYEE_LOGIN", "employee_id": -4, "terminal_id": "T1"}"#) == "EMPLOYEE_LOGIN: field 'employee_id' must not be negative, got -4")
    }

    @Test func meaninglessValuesAreRejectedWithTheCatalogsNames() {
        let item = #"{"event_type": "ITEM_ADDED", "basket_id": "b1", "product_id": "BEER""#
        #expect(reject(item + #", "quantity": -2}"#) == "ITEM_ADDED: field 'quantity' must be at least 1, got -2")
        #expect(reject(item + #", "quantity": 0}"#) == "ITEM_ADDED: field 'quantity' must be at least 1, got 0")
        #expect(reject(item + #", "quantity": 1e20}"#) == "ITEM_ADDED: field 'quantity' must be a whole number within 2^53, got number 1e+20")
        #expect(reject(item + #", "price": -4.99}"#) == "ITEM_ADDED: field 'price' must be at least 0, got -4.99")
        #expect(reject(#"{"event_type": "PAYMENT_PROCESSED", "basket_id": "b1", "amount": -10}"#) == "PAYMENT_PROCESSED: field 'amount' must be at least 0, got -10")
        #expect(reject(#"{"event_type": "ITEM_ADDED", "basket_id": "", "product_id": "BEER"}"#) == "ITEM_ADDED: field 'basket_id' must not be empty")
        #expect(reject(#"{"event_type": "ITEM_ADDED", "basket_id": "b1", "product_id": ""}"#) == "ITEM_ADDED: field 'product_id' must not be empty")
        #expect(reject(#"{"event_type": "ITEM_ADDED", "basket_id": "b\n1", "product_id": "X"}"#) == "ITEM_ADDED: field 'basket_id' contains a control character")
        #expect(reject(#"{"event_type": "AGE_VERIFIED", "basket_id": "b1", "customer_age": 400}"#) == "AGE_VERIFIED: field 'customer_age' must be at most 150, got 400")
        #expect(reject(item + #", "quantity": 3, "price": 4.99}"#) == nil)
    }

    @Test func theJSONParserIsStrictAndTotal() throws {
        for bad in ["{\"a\": NaN}", "{\"a\": Infinity}", "[1e400]", "[-1e400]", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"\\udc00x\"", "[01]", "[1.]", "[.5]",
                    "{\"a\" 1}", "[1,]", "{,}", "\"\u{01}\"", "tru", "[" + String(repeating: "[", count: 200) + String(repeating: "]", count: 201)]
        {
            #expect(throws: JSONValue.ParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }  // invalid UTF-8 in a string
        #expect(try JSONValue.parse("\"\\ud83d\\ude00 \\u00e9\\n\"") == .string("😀 é\n"))
        #expect(try JSONValue.parse(" {\"a\": [1, -0.5e2, true, false, null, \"x\"]} ") == .object(["a": .array([.number(1), .number(-50), .bool(true), .bool(false), .null, .string("x")])]))
        #expect(try JSONValue.parse("1") == .number(1))
        #expect(JSONValue.number(1e20).exactInteger == nil && JSONValue.number(-9_007_199_254_740_992).exactInteger == -9_007_199_254_740_992)
        #expect(JSONValue.number(.nan).exactInteger == nil && JSONValue.number(.infinity).exactInteger == nil)
    }

    @Test func aSchemaWithAHugeCountIsRefusedNotATrap() {
        #expect(throws: (any Error).self) { try JSONSchema(JSONValue.parse(#"{"type": "string", "maxLength": 1e300}"#)) }
        #expect(throws: (any Error).self) { try JSONSchema(JSONValue.parse(#"{"type": "array", "minItems": 1e19}"#)) }
    }

    @Test func theByteLevelControlCheckAgreesWithUnicode() {
        for value in UInt32(0)...0x3000 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = "id" + String(Character(scalar)) + "x"
            #expect(EventDecoder.containsControlCharacter(text) == (scalar.properties.generalCategory == .control), "U+\(String(value, radix: 16))")
        }
    }

    @Test func logLinesEscapeControlCharacters() {
        let text = HostLogHandler(label: "pos-host", format: .text)
        let time = Date(timeIntervalSince1970: 1_795_597_200)
        let forged = text.line(level: .warning, message: "dead-lettered ITEM_ADDED\n2026-11-25T09:00:00.000Z info pos-host: admin logged in\u{0}", metadata: ["type": "X\r\nY"], time: time)
        #expect(forged.filter { $0 == "\n" }.count == 1 && forged.hasSuffix("\n"))
        #expect(!forged.unicodeScalars.contains { $0.value == 0 || $0 == "\r" })
        #expect(forged.contains("\\n2026-11-25") && forged.contains("\\u{0}") && forged.contains(#"type="X\r\nY""#))
        let journal = HostLogHandler(label: "pos-host", format: .journal).line(level: .error, message: "a\u{1b}[31mred", metadata: [:], time: time)
        #expect(journal == "<3>a\\u{1b}[31mred\n")
        let json = HostLogHandler(label: "pos-host", format: .json).line(level: .info, message: "line\nbreak", metadata: ["plugin": "p"], time: time)
        #expect(json.filter { $0 == "\n" }.count == 1)
        let object = try? JSONValue.parse(String(json.dropLast()))
        #expect(object?["message"] == .string("line\nbreak") && object?["plugin"] == .string("p") && object?["level"] == .string("info"))
        #expect(HostLogHandler.format(environment: ["POS_LOG_FORMAT": "json"]) == .json)
        #expect(HostLogHandler.format(environment: ["JOURNAL_STREAM": "8:1"]) == .journal)
        #expect(HostLogHandler.format(environment: [:]) == .text)
    }
}
