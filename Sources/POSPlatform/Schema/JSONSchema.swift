import Foundation

/// A compiled JSON Schema (the subset of draft 2020-12 documented in docs/plugin-abi.md).
///
/// Written here rather than taken from a package because none of the packages available to the
/// build validates JSON Schema (see docs/adr/0004-hand-written-json-schema-subset.md). Keywords
/// outside the subset are refused when the schema is compiled, so a plugin author is never
/// misled into thinking a constraint is enforced when it is not.
public struct JSONSchema: Sendable {
    indirect enum Node: Sendable {
        case any
        case never
        case constraints(Constraints)
    }

    struct Constraints: Sendable {
        var types: Set<String>?
        var enumValues: [JSONValue]?
        var constValue: JSONValue?
        var properties: [String: Node] = [:]
        var required: [String] = []
        var additionalProperties: Node = .any
        var items: Node?
        var minItems: Int?
        var maxItems: Int?
        var minimum: Double?
        var maximum: Double?
        var exclusiveMinimum: Double?
        var exclusiveMaximum: Double?
        var minLength: Int?
        var maxLength: Int?
        var pattern: String?
        var anyOf: [Node]?
    }

    let root: Node

    /// A violation found while validating, with a JSON-pointer-like path ("" is the root).
    public struct Violation: Error, Equatable, CustomStringConvertible, Sendable {
        public let path: String
        public let message: String
        public var description: String { path.isEmpty ? message : "\(path): \(message)" }
    }

    /// A problem with the schema itself.
    public struct SchemaError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { "invalid settings schema: \(message)" }
    }

    static let annotationKeywords: Set<String> = [
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly",
    ]
    static let knownTypes: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]

    public init(_ schema: JSONValue) throws {
        root = try Self.compile(schema, at: "")
    }

    public init(text: String) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw SchemaError(message: "\(error)") }
        try self.init(value)
    }

    static func compile(_ schema: JSONValue, at path: String) throws -> Node {
        switch schema {
        case .bool(let accept): return accept ? .any : .never
        case .object(let keywords): return .constraints(try compileObject(keywords, at: path))
        default: throw SchemaError(message: "\(path.isEmpty ? "root" : path) must be an object or a boolean")
        }
    }

    static func compileObject(_ keywords: [String: JSONValue], at path: String) throws -> Constraints {
        var result = Constraints()
        func fail(_ message: String) -> SchemaError { SchemaError(message: "\(path.isEmpty ? "root" : path): \(message)") }
        func number(_ key: String) throws -> Double? {
            guard let value = keywords[key] else { return nil }
            guard let number = value.numberValue else { throw fail("'\(key)' must be a number") }
            return number
        }
        func count(_ key: String) throws -> Int? {
            guard let value = try number(key) else { return nil }
            guard value >= 0, value.rounded() == value, value <= 1e15 else { throw fail("'\(key)' must be a non-negative integer (at most 10^15)") }
            return Int(value)
        }
        for key in keywords.keys.sorted() {
            let value = keywords[key]!
            switch key {
            case _ where annotationKeywords.contains(key): continue
            case "type":
                let names: [String]
                if let single = value.stringValue {
                    names = [single]
                } else if let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) {
                    names = list.compactMap(\.stringValue)
                } else {
                    throw fail("'type' must be a type name or a list of them")
                }
                if let unknown = names.first(where: { !knownTypes.contains($0) }) { throw fail("unknown type '\(unknown)'") }
                result.types = Set(names)
            case "enum":
                guard let list = value.arrayValue else { throw fail("'enum' must be an array") }
                result.enumValues = list
            case "const": result.constValue = value
            case "properties":
                guard let members = value.objectValue else { throw fail("'properties' must be an object") }
                for (name, subschema) in members {
                    result.properties[name] = try compile(subschema, at: "\(path)/properties/\(name)")
                }
            case "required":
                guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail("'required' must be an array of strings")
                }
                result.required = list.compactMap(\.stringValue)
            case "additionalProperties": result.additionalProperties = try compile(value, at: "\(path)/additionalProperties")
            case "items": result.items = try compile(value, at: "\(path)/items")
            case "minItems": result.minItems = try count(key)
            case "maxItems": result.maxItems = try count(key)
            case "minLength": result.minLength = try count(key)
            case "maxLength": result.maxLength = try count(key)
            case "minimum": result.minimum = try number(key)
            case "maximum": result.maximum = try number(key)
            case "exclusiveMinimum": result.exclusiveMinimum = try number(key)
            case "exclusiveMaximum": result.exclusiveMaximum = try number(key)
            case "pattern":
                guard let pattern = value.stringValue, (try? NSRegularExpression(pattern: pattern)) != nil else {
                    throw fail("'pattern' must be a valid regular expression")
                }
                result.pattern = pattern
            case "anyOf":
                guard let list = value.arrayValue, !list.isEmpty else { throw fail("'anyOf' must be a non-empty array") }
                result.anyOf = try list.enumerated().map { try compile($1, at: "\(path)/anyOf/\($0)") }
            default:
                throw fail("keyword '\(key)' is not supported (see docs/plugin-abi.md for the supported subset)")
            }
        }
        return result
    }

    /// Every violation of the schema by `value`; empty when valid.
    public func violations(of value: JSONValue) -> [Violation] {
        var found: [Violation] = []
        Self.check(value, against: root, at: "", into: &found)
        return found
    }

    /// Throws the first violations (joined in one message) when `value` is not valid.
    public func validate(_ value: JSONValue) throws {
        let found = violations(of: value)
        if !found.isEmpty {
            throw Violation(path: "", message: found.prefix(5).map(\.description).joined(separator: "; "))
        }
    }

    static func check(_ value: JSONValue, against node: Node, at path: String, into found: inout [Violation]) {
        switch node {
        case .any: return
        case .never: found.append(Violation(path: path, message: "is not allowed"))
        case .constraints(let rules): check(value, rules, at: path, into: &found)
        }
    }

    static func check(_ value: JSONValue, _ rules: Constraints, at path: String, into found: inout [Violation]) {
        func report(_ message: String) { found.append(Violation(path: path, message: message)) }
        if let types = rules.types {
            let actual = value.typeName
            let matches = types.contains(actual) || (actual == "integer" && types.contains("number"))
            if !matches {
                report("expected \(types.sorted().joined(separator: " or ")), got \(actual)")
                return
            }
        }
        if let allowed = rules.enumValues, !allowed.contains(value) {
            report("must be one of \(allowed.map(\.jsonText).joined(separator: ", "))")
        }
        if let constant = rules.constValue, constant != value { report("must equal \(constant.jsonText)") }
        if let options = rules.anyOf {
            let anyMatches = options.contains { option in
                var scratch: [Violation] = []
                check(value, against: option, at: path, into: &scratch)
                return scratch.isEmpty
            }
            if !anyMatches { report("matches none of the allowed alternatives (anyOf)") }
        }
        switch value {
        case .number(let number):
            if let minimum = rules.minimum, number < minimum { report("must be >= \(JSONValue.number(minimum).jsonText)") }
            if let maximum = rules.maximum, number > maximum { report("must be <= \(JSONValue.number(maximum).jsonText)") }
            if let bound = rules.exclusiveMinimum, number <= bound { report("must be > \(JSONValue.number(bound).jsonText)") }
            if let bound = rules.exclusiveMaximum, number >= bound { report("must be < \(JSONValue.number(bound).jsonText)") }
        case .string(let text):
            let length = text.count
            if let minimum = rules.minLength, length < minimum { report("must be at least \(minimum) characters") }
            if let maximum = rules.maxLength, length > maximum { report("must be at most \(maximum) characters") }
            if let pattern = rules.pattern, let regex = try? NSRegularExpression(pattern: pattern),
                regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil
            {
                report("does not match pattern \(pattern)")
            }
        case .array(let elements):
            if let minimum = rules.minItems, elements.count < minimum { report("must have at least \(minimum) items") }
            if let maximum = rules.maxItems, elements.count > maximum { report("must have at most \(maximum) items") }
            if let items = rules.items {
                for (index, element) in elements.enumerated() { check(element, against: items, at: "\(path)/\(index)", into: &found) }
            }
        case .object(let members):
            for name in rules.required where members[name] == nil { report("missing required property '\(name)'") }
            for name in members.keys.sorted() {
                let childPath = "\(path)/\(name)"
                if let property = rules.properties[name] {
                    check(members[name]!, against: property, at: childPath, into: &found)
                } else if case .never = rules.additionalProperties {
                    found.append(Violation(path: childPath, message: "unknown setting (not in the schema)"))
                } else {
                    check(members[name]!, against: rules.additionalProperties, at: childPath, into: &found)
                }
            }
        default: break
        }
    }
}
