import PluginSDK

/// Example Swift plugin: keeps a running tally of each basket in the host's state service and
/// emits BASKET_TOTALLED when the basket is paid. It shows settings with a schema, decoding
/// payloads, transactional state, emitting, counters, a query, and poison handling.
final class BasketTallyPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "basket_tally",
        version: "1.0.0",
        description: "Running totals per basket; emits BASKET_TOTALLED on payment",
        subscriptions: ["ITEM_ADDED", "ITEM_REMOVED", "PAYMENT_PROCESSED"], emits: ["BASKET_TOTALLED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "large_basket_threshold": {"type": "number", "minimum": 0},
               "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]}
             },
             "additionalProperties": false}
            """,
        defaultSettings: #"{"large_basket_threshold": 100, "currency": "USD"}"#)

    struct Settings: Decodable {
        var largeBasketThreshold: Double
        var currency: String
    }

    struct ItemEvent: Decodable {
        var basketId: String
        var productId: String
        var quantity: Int?
        var price: Double
    }

    struct PaymentEvent: Decodable {
        var basketId: String
    }

    /// Money is kept in cents: summing binary floating-point prices drifts.
    struct Tally: Codable {
        var items: Int = 0
        var totalCents: Int = 0
        var total: Double { Double(totalCents) / 100 }
    }

    struct Totalled: Encodable {
        var basketId: String
        var items: Int
        var total: Double
        var currency: String
        var large: Bool
    }

    private let settings: Settings

    init(settings: PluginSettings, host: PluginHost) throws {
        self.settings = try settings.decode(Settings.self)
    }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        if event.isType("PAYMENT_PROCESSED") {
            let payment = try event.decode(PaymentEvent.self)
            let tally = try host.state.get("basket:\(payment.basketId)", as: Tally.self) ?? Tally()
            let large = tally.total >= settings.largeBasketThreshold
            if large { host.count("large_baskets") }
            try host.emit(
                type: "BASKET_TOTALLED", key: payment.basketId,
                Totalled(basketId: payment.basketId, items: tally.items, total: tally.total,
                         currency: settings.currency, large: large))
            try host.state.delete("basket:\(payment.basketId)")
            return
        }
        let item = try event.decode(ItemEvent.self)
        guard item.price >= 0 else { throw PluginError.reject("negative price \(item.price) for \(item.productId)") }
        let quantity = item.quantity ?? 1
        let sign = event.isType("ITEM_REMOVED") ? -1 : 1
        var tally = try host.state.get("basket:\(item.basketId)", as: Tally.self) ?? Tally()
        tally.items += sign * quantity
        tally.totalCents += sign * quantity * Int((item.price * 100).rounded())
        try host.state.put("basket:\(item.basketId)", json: tally)
    }

    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        guard name == "basket" else { throw PluginError.unknownQuery(name) }
        struct Request: Decodable { var basketId: String }
        let basketId = try PluginJSON.decode(Request.self, from: request).basketId
        return try PluginJSON.encode(host.state.get("basket:\(basketId)", as: Tally.self) ?? Tally())
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(BasketTallyPlugin.self, hostMajor: major, hostMinor: minor)
}
