import PluginSDK

struct Session: Decodable {
    var employeeId: PluginIdentifier
    var terminalId: String
}

struct BasketStarted: Decodable {
    var basketId: String
    var terminalId: String
    var employeeId: PluginIdentifier?
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
    var employeeId: PluginIdentifier?
}

struct Acknowledgement: Decodable {
    var alertId: String
    var employeeId: PluginIdentifier?
    var note: String?
}
