import Foundation

/// Names in the payload are snake_case, Swift's are camelCase: `employee_id` -> `employeeId`,
/// as Foundation's `convertFromSnakeCase` does (leading and trailing underscores kept, later
/// words capitalised, the rest of each word lower-cased).
enum SnakeCase {
    static func toCamel(_ key: String) -> String {
        guard key.utf8.contains(UInt8(ascii: "_")) else { return key }
        let utf8 = Array(key.utf8)
        guard let first = utf8.firstIndex(where: { $0 != UInt8(ascii: "_") }) else { return key }
        let last = utf8.lastIndex(where: { $0 != UInt8(ascii: "_") })!
        guard utf8.allSatisfy({ $0 < 0x80 }) else { return foundationToCamel(key) }
        var result = Array(utf8[..<first])
        var word = 0
        var position = first
        while position <= last {
            var end = position
            while end <= last, utf8[end] != UInt8(ascii: "_") { end += 1 }
            if end > position {
                for (offset, byte) in utf8[position..<end].enumerated() {
                    let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
                    if word == 0 { result.append(byte) } else if offset == 0, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lower) { result.append(lower - 32) } else { result.append(lower) }
                }
                word += 1
            }
            position = end + 1
        }
        result.append(contentsOf: utf8[(last + 1)...])
        return String(decoding: result, as: UTF8.self)
    }

    private static func foundationToCamel(_ key: String) -> String {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct Probe: Decodable {
            let name: String
            init(from decoder: any Decoder) throws { name = try decoder.container(keyedBy: AnyKey.self).allKeys.first?.stringValue ?? "" }
        }
        var object = [UInt8]()
        JSONTreeWriter.appendObjectWithOneKey(key, to: &object)
        return (try? decoder.decode(Probe.self, from: Data(object)).name) ?? key
    }
}

/// A string or integer coding key.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Where a value sits, as a linked list built only as deep as decoding goes (an array of keys
/// is made only for an error).
final class CodingPathNode: @unchecked Sendable {  // immutable after init
    let parent: CodingPathNode?
    let key: (any CodingKey)?
    init(parent: CodingPathNode?, key: (any CodingKey)?) {
        self.parent = parent
        self.key = key
    }
    static let root = CodingPathNode(parent: nil, key: nil)
    var path: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: CodingPathNode? = self
        while let current = node, let key = current.key {
            keys.append(key)
            node = current.parent
        }
        return keys.reversed()
    }
    func appending(_ key: any CodingKey) -> CodingPathNode { CodingPathNode(parent: self, key: key) }
}

/// Marks `[String: Value]`, whose keys are data and so exempt from the snake_case conversion
/// (as in Foundation).
protocol StringKeyedDictionaryMarker {
    static func decodeMembers(_ members: [(key: String, value: JSONTree)], at node: CodingPathNode) throws -> Any
}

extension Dictionary: StringKeyedDictionaryMarker where Key == String, Value: Decodable {
    static func decodeMembers(_ members: [(key: String, value: JSONTree)], at node: CodingPathNode) throws -> Any {
        var result: [String: Value] = [:]
        result.reserveCapacity(members.count)
        for member in members { result[member.key] = try TreeDecoder.decode(Value.self, from: member.value, at: node.appending(AnyKey(stringValue: member.key))) }
        return result
    }
}

/// `Decoder` over a ``JSONTree``.
struct TreeDecoder: Decoder {
    let value: JSONTree
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONTree, at node: CodingPathNode) throws -> T {
        switch type {
        case is String.Type:
            guard case .string(let text) = value else { throw mismatch(type, value, node) }
            return text as! T
        case is Double.Type: return try double(value, node, type) as! T
        case is Float.Type: return Float(try double(value, node, type)) as! T
        case let integerType as any FixedWidthInteger.Type:
            func exact<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
                let lowest = I.min == 0 ? Int64(0) : Int64(clamping: I.min), highest = Int64(clamping: I.max)
                return I(try integer(value, node, lowest, highest, type))
            }
            return try exact(integerType) as! T
        case is Bool.Type:
            guard case .bool(let flag) = value else { throw mismatch(type, value, node) }
            return flag as! T
        case is URL.Type:
            guard case .string(let text) = value else { throw mismatch(type, value, node) }
            guard let url = URL(string: text) else { throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "Invalid URL string.")) }
            return url as! T
        case is Data.Type:
            guard case .string(let text) = value else { throw mismatch(type, value, node) }
            guard let data = Data(base64Encoded: text) else { throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "Encountered Data is not valid Base64.")) }
            return data as! T
        case let marker as any StringKeyedDictionaryMarker.Type:
            guard case .object(let members) = value else { throw mismatch(type, value, node) }
            return try marker.decodeMembers(members, at: node) as! T
        default:
            return try T(from: TreeDecoder(value: value, node: node))
        }
    }

    static func mismatch(_ type: Any.Type, _ value: JSONTree, _ node: CodingPathNode) -> DecodingError {
        if case .null = value { return .valueNotFound(type, .init(codingPath: node.path, debugDescription: "Expected \(type) value but found null instead.")) }
        return .typeMismatch(type, .init(codingPath: node.path, debugDescription: "Expected to decode \(type) but found \(value.kindName) instead."))
    }

    static func integer(_ value: JSONTree, _ node: CodingPathNode, _ lowest: Int64, _ highest: Int64, _ type: Any.Type) throws -> Int64 {
        switch value {
        case .integer(let number) where number >= lowest && number <= highest: return number
        case .double(let number) where number.rounded(.towardZero) == number && number >= Double(lowest) && number < Double(highest):
            return Int64(number)
        case .integer, .double:
            throw DecodingError.dataCorrupted(.init(codingPath: node.path, debugDescription: "Parsed JSON number does not fit in \(type)."))
        default: throw mismatch(type, value, node)
        }
    }

    static func double(_ value: JSONTree, _ node: CodingPathNode, _ type: Any.Type) throws -> Double {
        switch value {
        case .double(let number): return number
        case .integer(let number): return Double(number)
        default: throw mismatch(type, value, node)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw Self.mismatch([String: Any].self, value, node) }
        return KeyedDecodingContainer(KeyedTreeContainer<Key>(members: members.map { (SnakeCase.toCamel($0.key), $0.value) }, node: node))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw Self.mismatch([Any].self, value, node) }
        return UnkeyedTreeContainer(elements: elements, node: node)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleTreeContainer(value: value, node: node) }
}

struct KeyedTreeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(key: String, value: JSONTree)]
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func find(_ key: Key) -> JSONTree? {
        let name = key.stringValue
        for member in members where member.key == name { return member.value }
        return nil
    }

    func value(_ key: Key) throws -> JSONTree {
        guard let value = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: node.path, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return value
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decodeAny(type, forKey: key) }
    private func decodeAny<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try TreeDecoder.decode(type, from: try value(key), at: node.appending(key))
    }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeAny(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeAny(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeAny(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeAny(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeAny(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeAny(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeAny(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeAny(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeAny(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeAny(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeAny(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeAny(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeAny(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeAny(type, forKey: key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = find(key) else { return nil }
        if case .null = value { return nil }
        return try TreeDecoder.decode(type, from: value, at: node.appending(key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(value: try value(key), node: node.appending(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: try value(key), node: node.appending(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(value: find(Key(stringValue: "super")!) ?? .null, node: node.appending(AnyKey(stringValue: "super")))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { TreeDecoder(value: find(key) ?? .null, node: node.appending(key)) }
}

struct UnkeyedTreeContainer: UnkeyedDecodingContainer {
    let elements: [JSONTree]
    let node: CodingPathNode
    var currentIndex = 0
    var codingPath: [any CodingKey] { node.path }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(elements: [JSONTree], node: CodingPathNode) {
        self.elements = elements
        self.node = node
    }

    private func next(_ type: Any.Type) throws -> (JSONTree, CodingPathNode) {
        let path = node.appending(AnyKey(intValue: currentIndex))
        guard !isAtEnd else { throw DecodingError.valueNotFound(type, .init(codingPath: path.path, debugDescription: "Unkeyed container is at end.")) }
        return (elements[currentIndex], path)
    }

    mutating func decodeNil() throws -> Bool {
        guard case .null = try next(Never.self).0 else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeAny(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeAny(type) }
    mutating func decode(_ type: String.Type) throws -> String { try decodeAny(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try decodeAny(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try decodeAny(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try decodeAny(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeAny(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeAny(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeAny(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeAny(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeAny(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeAny(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeAny(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeAny(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeAny(type) }
    private mutating func decodeAny<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next(type)
        let decoded = try TreeDecoder.decode(type, from: value, at: path)
        currentIndex += 1
        return decoded
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next([String: Any].self)
        let container = try TreeDecoder(value: value, node: path).container(keyedBy: type)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next([Any].self)
        let container = try TreeDecoder(value: value, node: path).unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next(Any.self)
        currentIndex += 1
        return TreeDecoder(value: value, node: path)
    }
}

struct SingleTreeContainer: SingleValueDecodingContainer {
    let value: JSONTree
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeAny(type) }
    private func decodeAny<T: Decodable>(_ type: T.Type) throws -> T { try TreeDecoder.decode(type, from: value, at: node) }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeAny(type) }
    func decode(_ type: String.Type) throws -> String { try decodeAny(type) }
    func decode(_ type: Double.Type) throws -> Double { try decodeAny(type) }
    func decode(_ type: Float.Type) throws -> Float { try decodeAny(type) }
    func decode(_ type: Int.Type) throws -> Int { try decodeAny(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeAny(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeAny(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeAny(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeAny(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeAny(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeAny(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeAny(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeAny(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeAny(type) }
}
