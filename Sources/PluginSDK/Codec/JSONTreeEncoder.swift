import Foundation

extension SnakeCase {
    /// `employeeId` -> `employee_id`, as Foundation's `convertToSnakeCase` does for ASCII names
    /// (a run of capitals is one word: `basketURLId` -> `basket_url_id`).
    static func toSnake(_ key: String) -> String {
        let utf8 = Array(key.utf8)
        func isUpper(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
        guard utf8.contains(where: isUpper) else { return key }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count + 4)
        for (position, byte) in utf8.enumerated() {
            if isUpper(byte) {
                let previous = position > 0 ? utf8[position - 1] : nil
                let next = position + 1 < utf8.count ? utf8[position + 1] : nil
                // A word starts at a capital after a lower-case letter or digit, or at the last
                // capital of a run that a lower-case letter follows.
                if let previous, previous != UInt8(ascii: "_"), !isUpper(previous) || (next.map { !isUpper($0) && $0 != UInt8(ascii: "_") } ?? false) {
                    result.append(UInt8(ascii: "_"))
                }
                result.append(byte + 32)
            } else {
                result.append(byte)
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}

extension JSONTreeWriter {
    static func appendObjectWithOneKey(_ key: String, to bytes: inout [UInt8]) {
        var writer = JSONTreeWriter()
        writer.write(.object([(key, .null)]))
        bytes.append(contentsOf: writer.bytes)
    }
}

/// Where an encoder puts what it encodes: containers are references, since a nested container
/// is filled after it was handed out.
final class TreeSlot {
    enum Content {
        case empty
        case value(JSONTree)
        case object(ObjectBox)
        case array(ArrayBox)
    }
    var content = Content.empty

    var tree: JSONTree {
        switch content {
        case .empty: return .object([])
        case .value(let value): return value
        case .object(let box): return .object(box.members.map { ($0.key, $0.slot.tree) })
        case .array(let box): return .array(box.elements.map(\.tree))
        }
    }

    func object() -> ObjectBox {
        if case .object(let box) = content { return box }
        let box = ObjectBox()
        content = .object(box)
        return box
    }

    func array() -> ArrayBox {
        if case .array(let box) = content { return box }
        let box = ArrayBox()
        content = .array(box)
        return box
    }
}

final class ObjectBox {
    var members: [(key: String, slot: TreeSlot)] = []
    func slot(_ key: String) -> TreeSlot {
        if let existing = members.first(where: { $0.key == key }) { return existing.slot }
        let slot = TreeSlot()
        members.append((key, slot))
        return slot
    }
}

final class ArrayBox {
    var elements: [TreeSlot] = []
    func append() -> TreeSlot {
        let slot = TreeSlot()
        elements.append(slot)
        return slot
    }
}

/// Marks `[String: Value]`, whose keys are data: written as they are, not snake_cased.
protocol StringKeyedDictionaryEncodingMarker {
    func encodeMembers(into box: ObjectBox, at node: CodingPathNode) throws
}

extension Dictionary: StringKeyedDictionaryEncodingMarker where Key == String, Value: Encodable {
    func encodeMembers(into box: ObjectBox, at node: CodingPathNode) throws {
        for (key, value) in self { try TreeEncoder.encode(value, into: box.slot(key), at: node.appending(AnyKey(stringValue: key))) }
    }
}

/// `Encoder` building a ``JSONTree``.
struct TreeEncoder: Encoder {
    let slot: TreeSlot
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func encode<T: Encodable>(_ value: T, into slot: TreeSlot, at node: CodingPathNode) throws {
        switch value {
        case let text as String: slot.content = .value(.string(text))
        case let flag as Bool: slot.content = .value(.bool(flag))
        case let number as Double:
            guard number.isFinite else { throw EncodingError.invalidValue(number, .init(codingPath: node.path, debugDescription: "Unable to encode Double.\(number) directly in JSON.")) }
            slot.content = .value(.double(number))
        case let number as Float:
            guard number.isFinite else { throw EncodingError.invalidValue(number, .init(codingPath: node.path, debugDescription: "Unable to encode Float.\(number) directly in JSON.")) }
            slot.content = .value(.double(Double("\(number)") ?? Double(number)))
        case let number as any FixedWidthInteger:
            guard let exact = Int64(exactly: number) else { throw EncodingError.invalidValue(number, .init(codingPath: node.path, debugDescription: "\(number) does not fit in 64 signed bits.")) }
            slot.content = .value(.integer(exact))
        case let url as URL: slot.content = .value(.string(url.absoluteString))
        case let data as Data: slot.content = .value(.string(data.base64EncodedString()))
        case let dictionary as any StringKeyedDictionaryEncodingMarker: try dictionary.encodeMembers(into: slot.object(), at: node)
        default: try value.encode(to: TreeEncoder(slot: slot, node: node))
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedTreeEncodingContainer<Key>(box: slot.object(), node: node))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { UnkeyedTreeEncodingContainer(box: slot.array(), node: node) }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleTreeEncodingContainer(slot: slot, node: node) }
}

struct KeyedTreeEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ObjectBox
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }

    private func slot(_ key: Key) -> TreeSlot { box.slot(SnakeCase.toSnake(key.stringValue)) }

    mutating func encodeNil(forKey key: Key) throws { slot(key).content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    private func encodeAny<T: Encodable>(_ value: T, forKey key: Key) throws { try TreeEncoder.encode(value, into: slot(key), at: node.appending(key)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeAny(value, forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeAny(value, forKey: key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedTreeEncodingContainer<NestedKey>(box: slot(key).object(), node: node.appending(key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedTreeEncodingContainer(box: slot(key).array(), node: node.appending(key))
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(slot: box.slot("super"), node: node.appending(AnyKey(stringValue: "super")))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(slot: slot(key), node: node.appending(key)) }
}

struct UnkeyedTreeEncodingContainer: UnkeyedEncodingContainer {
    let box: ArrayBox
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }
    var count: Int { box.elements.count }

    private func nextNode() -> CodingPathNode { node.appending(AnyKey(intValue: box.elements.count)) }

    mutating func encodeNil() throws { box.append().content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws { try encodeAny(value) }
    mutating func encode(_ value: Bool) throws { try encodeAny(value) }
    mutating func encode(_ value: String) throws { try encodeAny(value) }
    mutating func encode(_ value: Double) throws { try encodeAny(value) }
    mutating func encode(_ value: Float) throws { try encodeAny(value) }
    mutating func encode(_ value: Int) throws { try encodeAny(value) }
    mutating func encode(_ value: Int8) throws { try encodeAny(value) }
    mutating func encode(_ value: Int16) throws { try encodeAny(value) }
    mutating func encode(_ value: Int32) throws { try encodeAny(value) }
    mutating func encode(_ value: Int64) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt8) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt16) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt32) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt64) throws { try encodeAny(value) }
    private func encodeAny<T: Encodable>(_ value: T) throws {
        let path = nextNode()
        try TreeEncoder.encode(value, into: box.append(), at: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextNode()
        return KeyedEncodingContainer(KeyedTreeEncodingContainer<NestedKey>(box: box.append().object(), node: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextNode()
        return UnkeyedTreeEncodingContainer(box: box.append().array(), node: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextNode()
        return TreeEncoder(slot: box.append(), node: path)
    }
}

struct SingleTreeEncodingContainer: SingleValueEncodingContainer {
    let slot: TreeSlot
    let node: CodingPathNode
    var codingPath: [any CodingKey] { node.path }

    mutating func encodeNil() throws { slot.content = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws { try encodeAny(value) }
    private func encodeAny<T: Encodable>(_ value: T) throws { try TreeEncoder.encode(value, into: slot, at: node) }
    mutating func encode(_ value: Bool) throws { try encodeAny(value) }
    mutating func encode(_ value: String) throws { try encodeAny(value) }
    mutating func encode(_ value: Double) throws { try encodeAny(value) }
    mutating func encode(_ value: Float) throws { try encodeAny(value) }
    mutating func encode(_ value: Int) throws { try encodeAny(value) }
    mutating func encode(_ value: Int8) throws { try encodeAny(value) }
    mutating func encode(_ value: Int16) throws { try encodeAny(value) }
    mutating func encode(_ value: Int32) throws { try encodeAny(value) }
    mutating func encode(_ value: Int64) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt8) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt16) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt32) throws { try encodeAny(value) }
    mutating func encode(_ value: UInt64) throws { try encodeAny(value) }
}
