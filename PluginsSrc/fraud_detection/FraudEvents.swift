/// An employee id: the original sent numbers, the catalog allows numbers or strings.
struct Identifier: Decodable, Hashable, Sendable, CustomStringConvertible {
    var description: String
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) { description = String(number) } else { description = try container.decode(String.self) }
    }
}

struct Session: Decodable {
    var employeeId: Identifier
    var terminalId: String
}

struct BasketStarted: Decodable {
    var basketId: String
    var terminalId: String
    var employeeId: Identifier?
    var customerIdentifier: String?
}

struct BasketRef: Decodable {
    var basketId: String?
}

struct Item: Decodable {
    var basketId: String
    var productId: String
    var quantity: Int?
    var price: Double?
}

struct Payment: Decodable {
    var basketId: String
    var amount: Double?
    var employeeId: Identifier?
}

struct Acknowledgement: Decodable {
    var alertId: String
    var employeeId: Identifier?
    var note: String?
}
