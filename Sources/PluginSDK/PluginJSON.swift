import Foundation

/// The JSON conventions of the SDK: payloads and settings use snake_case keys (as the event
/// catalog does) and map to camelCase Swift properties.
public enum PluginJSON {
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(bytes))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
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
