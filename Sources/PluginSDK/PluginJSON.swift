import Foundation

/// The JSON conventions of the SDK: payloads, state values and settings use snake_case keys
/// (as the event catalog does) and map to camelCase Swift properties.
///
/// The codec is the SDK's own (ADR 15), several times faster than Foundation's JSONDecoder and
/// JSONEncoder with key strategies, and compatible with them for what plugins store: the same
/// key conversions (`[String: Value]` keys are data and kept as they are), sorted keys, `/`
/// escaped, whole doubles without `.0`, `URL` as a string and `Data` as Base64; errors are
/// `DecodingError`s with their coding path.
public enum PluginJSON {
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        let tree: JSONTree
        do {
            tree = try JSONTreeParser.parse(bytes)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON: \(error)", underlyingError: error))
        }
        return try TreeDecoder.decode(type, from: tree, at: .root)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let slot = TreeSlot()
        try TreeEncoder.encode(value, into: slot, at: .root)
        var writer = JSONTreeWriter()
        writer.write(slot.tree)
        return writer.bytes
    }
}

/// The settings an instance is created with: a JSON object merged with the defaults and
/// validated against the descriptor's schema by the host.
public struct PluginSettings: Sendable {
    /// The settings as UTF-8 JSON text.
    public let json: [UInt8]

    public init(json: [UInt8]) { self.json = json }

    /// Decodes the settings into a `Decodable` type (snake_case keys map to camelCase).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try PluginJSON.decode(type, from: json)
    }
}
