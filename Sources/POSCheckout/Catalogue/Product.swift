import POSPlatform

/// A product as the catalogue sells it. Prices are integer cents; `price` is the same in
/// currency units for the original's clients (which send and read floats).
public struct Product: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var barcode: String?
    public var priceCents: Int
    public var category: String
    public var taxClass: String
    /// The age a customer must have reached to buy it; nil when unrestricted.
    public var minimumAge: Int?

    public init(id: String, name: String, barcode: String? = nil, priceCents: Int, category: String, taxClass: String = "standard", minimumAge: Int? = nil) {
        self.id = id
        self.name = name
        self.barcode = barcode
        self.priceCents = priceCents
        self.category = category
        self.taxClass = taxClass
        self.minimumAge = minimumAge
    }

    public var price: Double { Money.units(priceCents) }
    public var ageRestricted: Bool { minimumAge != nil }
}

/// Integer cents, and their decimal form for clients and events.
public enum Money {
    public static func units(_ cents: Int) -> Double { Double(cents) / 100 }

    /// Cents of a client's decimal amount, when it is one (at most two decimals, not negative).
    public static func cents(_ units: Double) -> Int? {
        guard units.isFinite, units >= 0, units < 1e12 else { return nil }
        let cents = (units * 100).rounded()
        guard abs(cents - units * 100) < 0.001 else { return nil }
        return Int(cents)
    }

    /// `12.50` for 1250.
    public static func text(_ cents: Int) -> String {
        let sign = cents < 0 ? "-" : ""
        let value = abs(cents)
        let fraction = value % 100
        return "\(sign)\(value / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The JSON number for `cents` in currency units (exact to the cent in its text form).
    public static func json(_ cents: Int) -> JSONValue { .number(units(cents)) }
}
