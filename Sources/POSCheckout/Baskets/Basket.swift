/// A basket as the server holds it: lines at the catalogue's prices, totals in integer cents.
public struct Basket: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case open = "OPEN"
        case paid = "PAID"
        case cancelled = "CANCELLED"
    }

    public var id: String
    public var terminalId: String
    public var employeeId: Int
    public var customerId: String?
    public var customerIdentifier: String?
    public var status: Status
    public var lines: [BasketLine]
    public var createdAtMilliseconds: Int64

    /// Lines still in the basket (voided ones are kept for the record, not counted).
    public var liveLines: [BasketLine] { lines.filter { !$0.removed } }

    public func totals(taxRates: [String: Int]) -> BasketTotals { BasketTotals(lines: liveLines, taxRates: taxRates) }
}

/// One scanned product in a basket.
public struct BasketLine: Sendable, Equatable {
    public var lineId: Int
    public var productId: String
    public var productName: String
    public var quantity: Int
    public var unitPriceCents: Int
    public var taxClass: String
    public var minimumAge: Int?
    public var removed: Bool

    public var lineTotalCents: Int { quantity * unitPriceCents }
}

/// Subtotal, tax and total of some lines. Tax is computed per tax class on the class's
/// subtotal and rounded half up to the cent once per class (not per line), so a basket of many
/// cheap items is taxed as the sum, as tax authorities expect.
public struct BasketTotals: Sendable, Equatable {
    public var subtotalCents: Int
    public var taxCents: Int
    public var taxByClass: [String: Int]
    public var itemCount: Int

    public var totalCents: Int { subtotalCents + taxCents }

    public init(lines: [BasketLine], taxRates: [String: Int]) {
        var byClass: [String: Int] = [:]
        for line in lines { byClass[line.taxClass, default: 0] += line.lineTotalCents }
        subtotalCents = byClass.values.reduce(0, +)
        var taxes: [String: Int] = [:]
        for (taxClass, amount) in byClass {
            let points = taxRates[taxClass] ?? 0
            if points > 0 { taxes[taxClass] = (amount * points + 5_000) / 10_000 }
        }
        taxByClass = taxes
        taxCents = taxes.values.reduce(0, +)
        itemCount = lines.reduce(0) { $0 + $1.quantity }
    }
}
