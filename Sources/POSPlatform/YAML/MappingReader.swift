/// Reads a YAML mapping into typed fields, reporting wrong types with file:line:column and
/// refusing keys nobody asked for (a typo in a config file must not be silently ignored).
public struct MappingReader {
    public let node: YAMLNode
    private let members: [String: (keyMark: SourceMark, value: YAMLNode)]
    private var consumed: Set<String> = []

    public init(_ node: YAMLNode, what: String) throws(ConfigError) {
        guard case .mapping(let list, _) = node else {
            throw ConfigError("\(what) must be a mapping of keys to values", at: node.mark)
        }
        self.node = node
        var members: [String: (SourceMark, YAMLNode)] = [:]
        for member in list { members[member.key] = (member.keyMark, member.value) }
        self.members = members
    }

    public mutating func raw(_ key: String) -> YAMLNode? {
        consumed.insert(key)
        return members[key]?.value
    }

    public mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let value = raw(key) else { return nil }
        switch value.jsonValue {
        case .string(let text): return text
        case .null: return nil
        default: throw ConfigError("'\(key)' must be text", at: value.mark)
        }
    }

    public mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let value = raw(key) else { return nil }
        guard case .bool(let flag) = value.jsonValue else {
            throw ConfigError("'\(key)' must be true or false", at: value.mark)
        }
        return flag
    }

    public mutating func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = raw(key) else { return nil }
        guard case .number(let number) = value.jsonValue, number.rounded() == number, number.magnitude < 1e15 else {
            throw ConfigError("'\(key)' must be a whole number", at: value.mark)
        }
        guard range.contains(Int(number)) else {
            throw ConfigError("'\(key)' must be between \(range.lowerBound) and \(range.upperBound)", at: value.mark)
        }
        return Int(number)
    }

    public mutating func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let value = raw(key) else { return nil }
        guard case .sequence(let items, _) = value else { throw ConfigError("'\(key)' must be a list", at: value.mark) }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item.jsonValue else {
                throw ConfigError("every entry of '\(key)' must be text", at: item.mark)
            }
            result.append(text)
        }
        return result
    }

    public mutating func section(_ key: String) throws(ConfigError) -> MappingReader? {
        guard let value = raw(key) else { return nil }
        return try MappingReader(value, what: "'\(key)'")
    }

    /// Throws for the first key in the mapping that no accessor asked for.
    public func rejectUnknownKeys(allowed: [String]) throws(ConfigError) {
        guard case .mapping(let list, _) = node else { return }
        for member in list where !consumed.contains(member.key) {
            throw ConfigError(
                "unknown key '\(member.key)' (allowed here: \(allowed.joined(separator: ", ")))", at: member.keyMark)
        }
    }
}
