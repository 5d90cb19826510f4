import Testing

@testable import PluginHost

@Suite struct JSONSchemaTests {
    let schema = try! JSONSchema(
        text: """
            {"type": "object",
             "required": ["threshold"],
             "properties": {
               "threshold": {"type": "integer", "minimum": 0, "maximum": 10},
               "ratio": {"type": "number", "exclusiveMaximum": 1},
               "mode": {"enum": ["strict", "lenient"]},
               "code": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
               "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
               "nested": {"type": "object", "properties": {"on": {"type": "boolean"}}, "additionalProperties": false},
               "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
             },
             "additionalProperties": false}
            """)

    func violations(_ json: String) throws -> [String] { schema.violations(of: try JSONValue.parse(json)).map(\.description) }

    @Test func acceptsValidSettings() throws {
        #expect(try violations(#"{"threshold": 3, "ratio": 0.5, "mode": "strict", "code": "USD", "tags": ["a"], "nested": {"on": true}, "either": 4}"#).isEmpty)
        #expect(try violations(#"{"threshold": 3.0}"#).isEmpty)  // a whole number is an integer
    }

    @Test func reportsEachViolationWithItsPath() throws {
        let found = try violations(
            #"{"ratio": 1, "mode": "chaos", "code": "usd", "tags": ["a", 1, "c"], "nested": {"on": "yes", "off": 1}, "either": [], "extra": 1}"#)
        #expect(found.contains("missing required property 'threshold'"))
        #expect(found.contains("/ratio: must be < 1"))
        #expect(found.contains(#"/mode: must be one of "strict", "lenient""#))
        #expect(found.contains("/code: does not match pattern ^[A-Z]{3}$"))
        #expect(found.contains("/tags: must have at most 2 items"))
        #expect(found.contains("/tags/1: expected string, got integer"))
        #expect(found.contains("/nested/on: expected boolean, got string"))
        #expect(found.contains("/nested/off: unknown setting (not in the schema)"))
        #expect(found.contains("/either: matches none of the allowed alternatives (anyOf)"))
        #expect(found.contains("/extra: unknown setting (not in the schema)"))
        #expect(try violations(#"{"threshold": 11}"#) == ["/threshold: must be <= 10"])
        #expect(try violations(#"{"threshold": 2.5}"#) == ["/threshold: expected integer, got number"])
    }

    @Test func refusesKeywordsItDoesNotEnforce() {
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(text: #"{"type": "object", "oneOf": []}"#) }
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(text: ##"{"$ref": "#/x"}"##) }
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(text: #"{"type": "decimal"}"#) }
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(text: #"{"pattern": "("}"#) }
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(text: "[1]") }
    }

    @Test func settingsMergeKeyByKeyOverDefaults() throws {
        let defaults = try JSONValue.parse(#"{"a": 1, "rules": {"x": {"on": true, "limit": 5}}}"#)
        let merged = defaults.merging(try JSONValue.parse(#"{"rules": {"x": {"limit": 9}}, "b": 2}"#))
        #expect(merged == (try JSONValue.parse(#"{"a": 1, "b": 2, "rules": {"x": {"on": true, "limit": 9}}}"#)))
        #expect(merged.jsonText == #"{"a":1,"b":2,"rules":{"x":{"limit":9,"on":true}}}"#)
    }
}
