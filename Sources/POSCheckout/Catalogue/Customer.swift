import Foundation

/// A customer of the store's directory.
public struct Customer: Sendable, Equatable {
    public var id: String
    public var firstName: String
    public var lastName: String
    public var email: String?
    public var phone: String?
    public var loyaltyCard: String?
    /// BRONZE, SILVER, GOLD or PLATINUM.
    public var tier: String
    public var points: Int

    public init(id: String, firstName: String, lastName: String, email: String?, phone: String?, loyaltyCard: String?, tier: String, points: Int) {
        self.id = id
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
        self.phone = phone
        self.loyaltyCard = loyaltyCard
        self.tier = tier
        self.points = points
    }

    public var name: String { "\(firstName) \(lastName)" }

    /// Every identifier the customer can be found by, normalised.
    public var identifiers: [String] {
        [phone, email, loyaltyCard].compactMap { $0 }.compactMap { CustomerIdentifier.normalise($0)?.normalised }
    }
}

/// A customer identifier in its canonical form, exactly as customer_lookup normalises it (so
/// the directory pos-api serves finds what the plugin asks for): phone numbers to `+` and 7-15
/// digits, email addresses in lower case, loyalty cards as `CARD_<digits>`.
public struct CustomerIdentifier: Sendable, Equatable {
    public var kind: String
    public var normalised: String

    public static func normalise(_ raw: String) -> CustomerIdentifier? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.count <= 256 else { return nil }
        if text.contains("@") {
            let parts = text.lowercased().split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !text.contains(" ") else { return nil }
            return CustomerIdentifier(kind: "email", normalised: text.lowercased())
        }
        let upper = text.uppercased()
        if upper.hasPrefix("CARD") {
            let digits = upper.dropFirst(4).filter { $0.isASCII && $0.isNumber }
            guard digits.count >= 4 else { return nil }
            return CustomerIdentifier(kind: "loyalty_card", normalised: "CARD_" + digits)
        }
        let allowed = Set("+0123456789 -().")
        guard text.allSatisfy({ allowed.contains($0) }) else { return nil }
        let digits = text.filter { $0.isNumber }
        guard (7...15).contains(digits.count) else { return nil }
        return CustomerIdentifier(kind: "phone", normalised: "+" + digits)
    }
}
