import Testing

@testable import PluginHost

@Suite struct YAMLParserTests {
    @Test func typingRulesFollowTheCoreSchema() throws {
        let node = try YAMLParser.parse(
            """
            plain_int: 42
            negative: -7
            hex: 0x1f
            float: 2.5
            exponent: 1e3
            yes_is_text: yes
            quoted_number: "42"
            single_quoted: '007'
            truth: true
            capital: False
            nothing: ~
            empty:
            list: [a, 1, "2"]
            nested: {inner: [true]}
            """, file: "t.yaml")
        let value = node.jsonValue
        #expect(value["plain_int"] == .number(42))
        #expect(value["negative"] == .number(-7))
        #expect(value["hex"] == .number(31))
        #expect(value["float"] == .number(2.5))
        #expect(value["exponent"] == .number(1000))
        #expect(value["yes_is_text"] == .string("yes"))
        #expect(value["quoted_number"] == .string("42"))
        #expect(value["single_quoted"] == .string("007"))
        #expect(value["truth"] == .bool(true))
        #expect(value["capital"] == .bool(false))
        #expect(value["nothing"] == .null)
        #expect(value["empty"] == .null)
        #expect(value["list"] == .array([.string("a"), .number(1), .string("2")]))
        #expect(value["nested"]?["inner"] == .array([.bool(true)]))
    }

    @Test func syntaxErrorsNameFileLineAndColumn() {
        #expect {
            _ = try YAMLParser.parse("a: 1\nb: [1, 2\nc: 3\n", file: "plugins.d/x.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.mark.file == "plugins.d/x.yaml" && error.mark.line >= 2 && error.description.hasPrefix("plugins.d/x.yaml:")
                && error.message.contains("invalid YAML")
        }
    }

    @Test func duplicateKeysAreRejectedWhereTheyStand() throws {
        let error = try #require(throws: ConfigError.self) { try YAMLParser.parse("a: 1\nb: 2\na: 3\n", file: "f.yaml") }
        #expect(error.mark.line == 3 && error.mark.column == 1)
        #expect(error.message == "duplicate key 'a'")
    }

    @Test func aliasesAndSeveralDocumentsAreRefused() throws {
        let alias = try #require(throws: ConfigError.self) { try YAMLParser.parse("a: &x 1\nb: *x\n", file: "f.yaml") }
        #expect(alias.message.contains("aliases"))
        let documents = try #require(throws: ConfigError.self) { try YAMLParser.parse("a: 1\n---\nb: 2\n", file: "f.yaml") }
        #expect(documents.message.contains("one YAML document"))
    }

    @Test func anEmptyFileIsAnEmptyMapping() throws {
        #expect(try YAMLParser.parse("", file: "f.yaml").jsonValue == .object([:]))
        #expect(try YAMLParser.parse("# only a comment\n", file: "f.yaml").jsonValue == .object([:]))
    }
}
