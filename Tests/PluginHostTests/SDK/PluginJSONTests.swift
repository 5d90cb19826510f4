import Foundation
import Testing

@testable import PluginSDK

/// The SDK's JSON codec (ADR 15) against Foundation's JSONDecoder/JSONEncoder with the key
/// strategies the SDK used before: the same bytes out, the same values in, errors that name the
/// field.
struct PluginJSONTests {
    struct Line: Codable, Equatable {
        var productId: String
        var quantity: Int
        var unitPrice: Double
        var tags: [String]
    }
    struct Basket: Codable, Equatable {
        var basketId: String
        var employeeId: Int64?
        var lines: [Line]
        var coPurchases: [String: Double]
        var verified: Bool
        var note: String?
        var url: URL?
        var blob: Data?
        var ratio: Float
        var small: Int8
    }

    static func foundationEncode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func foundationDecode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(bytes))
    }

    static func sample(_ seed: Int) -> Basket {
        var generator = SeededGenerator(state: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1)
        let products = ["BEER_6PK", "wine", "Milk 1/2 gal", "caf\u{e9}", "tab\tand \"quote\"", "\u{1F37A}", "a\\b", "line\nbreak", "\u{01}"]
        let lines = (0..<Int.random(in: 0...4, using: &generator)).map { index in
            Line(
                productId: products.randomElement(using: &generator)!, quantity: Int.random(in: -5...1_000_000, using: &generator),
                unitPrice: [0, 1, 2.5, 0.1, 1e-7, 12_345.678, 1e21, -3.25][Int.random(in: 0..<8, using: &generator)], tags: Array(products.prefix(index)))
        }
        var pairs: [String: Double] = [:]
        for product in products.shuffled(using: &generator).prefix(Int.random(in: 0...5, using: &generator)) { pairs[product] = Double(Int.random(in: 0...99, using: &generator)) / 8 }
        return Basket(
            basketId: "basket_\(seed)", employeeId: seed % 3 == 0 ? nil : Int64(seed) * 1_000_003, lines: lines, coPurchases: pairs, verified: seed % 2 == 0,
            note: seed % 4 == 0 ? nil : "n/\(seed)", url: seed % 5 == 0 ? URL(string: "https://example.com/a?b=\(seed)") : nil,
            blob: seed % 6 == 0 ? Data([0, 1, 2, 250, UInt8(seed & 0xFF)]) : nil, ratio: Float(seed) / 7, small: Int8(seed % 100))
    }

    @Test func writesWhatFoundationWritesAndReadsWhatItReads() throws {
        for seed in 0..<400 {
            let value = Self.sample(seed)
            let ours = try PluginJSON.encode(value)
            let theirs = try Self.foundationEncode(value)
            #expect(ours == theirs, "seed \(seed):\n ours:   \(String(decoding: ours, as: UTF8.self))\n theirs: \(String(decoding: theirs, as: UTF8.self))")
            #expect(try PluginJSON.decode(Basket.self, from: theirs) == value)
            #expect(try Self.foundationDecode(Basket.self, ours) == value)
        }
    }

    @Test func keyConversionsMatchFoundations() throws {
        struct Keys: Codable, Equatable {
            var employeeId = 1
            var basketURLId = 2
            var sku2Name = 3
            var _private = 4
            var trailing_ = 5
            var alreadySnake_case = 6
        }
        #expect(try PluginJSON.encode(Keys()) == Self.foundationEncode(Keys()))
        // Names the decoder sees, converted from the data's spelling.
        for json in [#"{"employee_id": 1, "basket_url_id": 2, "sku2_name": 3, "_private": 4, "trailing_": 5, "already_snake_case": 6}"#,
                     #"{"EMPLOYEE_ID": 1, "basket_Url_id": 2, "sku2_name": 3, "_private": 4, "trailing_": 5, "already_snake__case": 6}"#] {
            let bytes = Array(json.utf8)
            #expect((try? PluginJSON.decode(Keys.self, from: bytes)) == (try? Self.foundationDecode(Keys.self, bytes)), "\(json)")
        }
    }

    @Test func numbersDecodeExactlyOrNotAtAll() throws {
        struct Number: Decodable { var n: Int }
        struct Small: Decodable { var n: UInt8 }
        struct Real: Decodable { var n: Double }
        #expect(try PluginJSON.decode(Number.self, from: Array(#"{"n": 9007199254740993}"#.utf8)).n == 9_007_199_254_740_993)
        #expect(try PluginJSON.decode(Number.self, from: Array(#"{"n": 4.0}"#.utf8)).n == 4)
        #expect(throws: DecodingError.self) { try PluginJSON.decode(Number.self, from: Array(#"{"n": 4.5}"#.utf8)) }
        #expect(throws: DecodingError.self) { try PluginJSON.decode(Small.self, from: Array(#"{"n": 256}"#.utf8)) }
        #expect(throws: DecodingError.self) { try PluginJSON.decode(Small.self, from: Array(#"{"n": -1}"#.utf8)) }
        #expect(try PluginJSON.decode(Real.self, from: Array(#"{"n": -12e-3}"#.utf8)).n == -0.012)
        #expect(throws: DecodingError.self) { try PluginJSON.decode(Real.self, from: Array(#"{"n": 1e999}"#.utf8)) }
        #expect(throws: EncodingError.self) { try PluginJSON.encode(["n": Double.nan]) }
    }

    @Test func errorsNameTheFieldAsThePayloadSpellsIt() {
        struct Item: Decodable { var productId: String; var quantity: Int }
        struct Event: Decodable { var basketId: String; var items: [Item] }
        func reason(_ json: String) -> String {
            switch Result(catching: { try PluginJSON.decode(Event.self, from: Array(json.utf8)) }) {
            case .success: return "decoded"
            case .failure(let error): return (error as? DecodingError).map(Trampolines.describe) ?? "\(error)"
            }
        }
        #expect(reason(#"{"items": []}"#) == "missing field 'basket_id'")
        #expect(reason(#"{"basket_id": "b", "items": [{"product_id": "p"}]}"#) == "missing field 'items.0.quantity'")
        #expect(reason(#"{"basket_id": "b", "items": [{"product_id": 5, "quantity": 1}]}"#) == "field 'items.0.product_id' is not String")
        #expect(reason(#"{"basket_id": null, "items": []}"#) == "field 'basket_id' is null, expected String")
        #expect(reason(#"{"basket_id": "b", "items": [}"#).hasPrefix("The given data was not valid JSON"))
    }

    @Test func malformedInputIsAnErrorNeverATrap() throws {
        let cases = ["", "{", "[1,]", "{\"a\" 1}", "\"\\ud800\"", "\"\\u12\"", "01", "-", "1.", "1e", "nul", "[1] 2", "\"a\u{01}\"",
                     String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "{\"a\":1,}"]
        for text in cases {
            #expect(throws: DecodingError.self, "\(text.prefix(20))") { try PluginJSON.decode([String: Int].self, from: Array(text.utf8)) }
        }
        #expect(try PluginJSON.decode([String].self, from: Array(#"["\ud83c\udf7a", "\u00e9\/"]"#.utf8)) == ["\u{1F37A}", "\u{e9}/"])
    }
}

/// A small deterministic generator (xorshift) for repeatable samples.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
