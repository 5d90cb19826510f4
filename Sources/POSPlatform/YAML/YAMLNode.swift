import CYAML
import Foundation

/// A position in a YAML file, 1-based, for error messages.
public struct SourceMark: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var description: String { "\(file):\(line):\(column)" }
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
}

/// An error in a configuration file, always naming file:line:column.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var mark: SourceMark
    public var message: String
    public var description: String { "\(mark): \(message)" }

    public init(_ message: String, at mark: SourceMark) {
        self.message = message
        self.mark = mark
    }
}

/// A parsed YAML node. Typing rules (YAML 1.2 core schema, documented in docs/configuration.md):
/// quoted scalars are always strings; plain scalars are null (`~`, `null`, empty), booleans
/// (`true`/`false` in any of the three cases YAML allows), integers, floats, else strings.
/// `yes`/`no`/`on`/`off` are strings, as in YAML 1.2.
public indirect enum YAMLNode: Sendable {
    case scalar(String, quoted: Bool, SourceMark)
    case sequence([YAMLNode], SourceMark)
    case mapping([(key: String, keyMark: SourceMark, value: YAMLNode)], SourceMark)

    public var mark: SourceMark {
        switch self {
        case .scalar(_, _, let mark), .sequence(_, let mark), .mapping(_, let mark): return mark
        }
    }

    /// The JSON value this node stands for, by the typing rules above.
    public var jsonValue: JSONValue {
        switch self {
        case .scalar(let text, let quoted, _): return quoted ? .string(text) : Self.plainScalarValue(text)
        case .sequence(let items, _): return .array(items.map(\.jsonValue))
        case .mapping(let members, _):
            var object: [String: JSONValue] = [:]
            for member in members { object[member.key] = member.value.jsonValue }
            return .object(object)
        }
    }

    public static func plainScalarValue(_ text: String) -> JSONValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf": return .number(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .number(-.infinity)
        default: break
        }
        if text.range(of: #"^[-+]?[0-9]+$"#, options: .regularExpression) != nil, let value = Int64(text.replacingOccurrences(of: "+", with: "")) {
            return .number(Double(value))
        }
        if text.hasPrefix("0x"), let value = Int64(text.dropFirst(2), radix: 16) { return .number(Double(value)) }
        if text.hasPrefix("0o"), let value = Int64(text.dropFirst(2), radix: 8) { return .number(Double(value)) }
        if text.range(of: #"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"#, options: .regularExpression) != nil,
            let value = Double(text)
        {
            return .number(value)
        }
        return .string(text)
    }
}

/// Parses YAML text with libyaml into a ``YAMLNode``; one document, no aliases, no duplicate keys.
public enum YAMLParser {
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLNode {
        // libyaml keeps pointers to its parser state: keep it at one address for the whole parse.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw ConfigError("cannot initialise the YAML parser", at: SourceMark(file: file, line: 1, column: 1))
        }
        defer { yaml_parser_delete(parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(ConfigError) -> YAMLNode in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var reader = EventReader(parser: parser, file: file)
            return try reader.document()
        }
    }

    public struct EventReader {
        public let parser: UnsafeMutablePointer<yaml_parser_t>
        public let file: String
        /// libyaml has no peek: an event read ahead to look for the end of a collection is kept here.
        public var pending: yaml_event_t? = nil

        public func mark(_ mark: yaml_mark_t) -> SourceMark {
            SourceMark(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
        }

        /// The next event; the caller must `yaml_event_delete` it.
        public mutating func next() throws(ConfigError) -> yaml_event_t {
            if let event = pending {
                pending = nil
                return event
            }
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let problem = parser.pointee.problem.map { String(cString: $0) } ?? "syntax error"
                let context = parser.pointee.context.map { " " + String(cString: $0) } ?? ""
                throw ConfigError("invalid YAML: \(problem)\(context)", at: mark(parser.pointee.problem_mark))
            }
            return event
        }

        public mutating func document() throws(ConfigError) -> YAMLNode {
            var event = try next()  // STREAM_START
            yaml_event_delete(&event)
            event = try next()
            if event.type == YAML_STREAM_END_EVENT {
                yaml_event_delete(&event)
                return .mapping([], SourceMark(file: file, line: 1, column: 1))  // an empty file is an empty mapping
            }
            yaml_event_delete(&event)  // DOCUMENT_START
            let root = try node()
            event = try next()  // DOCUMENT_END
            yaml_event_delete(&event)
            event = try next()
            defer { yaml_event_delete(&event) }
            if event.type != YAML_STREAM_END_EVENT {
                throw ConfigError("only one YAML document is allowed per file", at: mark(event.start_mark))
            }
            return root
        }

        public mutating func node() throws(ConfigError) -> YAMLNode {
            var event = try next()
            defer { yaml_event_delete(&event) }
            let start = mark(event.start_mark)
            switch event.type {
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                return .scalar(text, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, start)
            case YAML_SEQUENCE_START_EVENT:
                var items: [YAMLNode] = []
                while let item = try nodeUnless(YAML_SEQUENCE_END_EVENT) { items.append(item) }
                return .sequence(items, start)
            case YAML_MAPPING_START_EVENT:
                var members: [(key: String, keyMark: SourceMark, value: YAMLNode)] = []
                var seen: Set<String> = []
                while let keyNode = try nodeUnless(YAML_MAPPING_END_EVENT) {
                    guard case .scalar(let key, _, let keyMark) = keyNode else {
                        throw ConfigError("mapping keys must be plain text", at: keyNode.mark)
                    }
                    guard seen.insert(key).inserted else { throw ConfigError("duplicate key '\(key)'", at: keyMark) }
                    members.append((key, keyMark, try node()))
                }
                return .mapping(members, start)
            case YAML_ALIAS_EVENT:
                throw ConfigError("YAML aliases (*name) are not supported in configuration files", at: start)
            default:
                throw ConfigError("unexpected YAML structure", at: start)
            }
        }

        /// The next node, or nil when the next event is `end` (which is consumed).
        public mutating func nodeUnless(_ end: yaml_event_type_t) throws(ConfigError) -> YAMLNode? {
            var event = try next()
            if event.type == end {
                yaml_event_delete(&event)
                return nil
            }
            pending = event
            return try node()
        }
    }
}
