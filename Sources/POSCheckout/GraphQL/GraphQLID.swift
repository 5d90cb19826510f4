import Graphiti

/// GraphQL's `ID` scalar (text), for the operations the original declares with it
/// (`updatePlugin(id: ID!)`).
struct GraphQLID: Codable, Sendable, Equatable {
    let value: String

    init(_ value: String) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            value = text
        } else {
            value = String(try container.decode(Int.self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
