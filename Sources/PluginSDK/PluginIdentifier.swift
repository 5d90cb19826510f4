/// An identifier that events may carry as a number or a string (the original system sent
/// employee ids as numbers; the catalog allows both). Decodes either, compares as text.
public struct PluginIdentifier: Decodable, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ text: String) { description = text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) { description = String(number) } else { description = try container.decode(String.self) }
    }
}
