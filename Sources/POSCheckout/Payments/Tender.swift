import POSPlatform

/// One way of paying part of a basket, as the client asks for it.
public struct TenderRequest: Sendable, Equatable, Codable {
    public enum Method: String, Sendable, Codable {
        case cash = "CASH"
        case card = "CARD"
    }

    public var method: Method
    /// What this tender pays (cents). Nil: the rest of the total.
    public var amountCents: Int?
    /// Cash handed over (cents), at least the amount; the difference is given back as change.
    public var tenderedCents: Int?
}

/// A tender as it was taken.
public struct Tender: Sendable, Equatable {
    public var seq: Int
    public var method: TenderRequest.Method
    public var amountCents: Int
    public var tenderedCents: Int
    public var changeCents: Int
    public var reference: String?

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "method": .string(method.rawValue), "amount_cents": .number(Double(amountCents)), "tendered_cents": .number(Double(tenderedCents)),
            "change_cents": .number(Double(changeCents)),
        ]
        if let reference { fields["reference"] = .string(reference) }
        return .object(fields)
    }

    init(seq: Int, method: TenderRequest.Method, amountCents: Int, tenderedCents: Int, changeCents: Int, reference: String?) {
        self.seq = seq
        self.method = method
        self.amountCents = amountCents
        self.tenderedCents = tenderedCents
        self.changeCents = changeCents
        self.reference = reference
    }

    init?(json: JSONValue) {
        guard let method = json["method"]?.stringValue.flatMap(TenderRequest.Method.init(rawValue:)), let amount = json["amount_cents"]?.exactInteger,
            let tendered = json["tendered_cents"]?.exactInteger, let change = json["change_cents"]?.exactInteger
        else { return nil }
        self.init(seq: 0, method: method, amountCents: Int(amount), tenderedCents: Int(tendered), changeCents: Int(change), reference: json["reference"]?.stringValue)
    }

    /// Splits `total` over the requests: each tender pays its amount (or the rest), cash may
    /// be over-tendered (change), card must be exact; together they pay exactly the total.
    static func plan(_ requests: [TenderRequest], total: Int) throws -> [Tender] {
        guard !requests.isEmpty, requests.count <= 8 else { throw CheckoutError.badInput("a payment has 1 to 8 tenders") }
        var remaining = total
        var tenders: [Tender] = []
        for (index, request) in requests.enumerated() {
            if let amount = request.amountCents, amount <= 0 { throw CheckoutError.badInput("tender \(index + 1): an amount is more than zero") }
            let amount = request.amountCents ?? remaining
            guard amount > 0 else { throw CheckoutError.badInput("tender \(index + 1) pays nothing: the total is already covered") }
            guard amount <= remaining else {
                throw CheckoutError.badInput("tender \(index + 1) pays \(Money.text(amount)) but only \(Money.text(remaining)) is left to pay")
            }
            var tendered = amount
            if request.method == .cash {
                tendered = request.tenderedCents ?? amount
                guard tendered >= amount else {
                    throw CheckoutError.badInput("tender \(index + 1): \(Money.text(tendered)) in cash does not cover \(Money.text(amount))")
                }
                guard tendered <= amount + 1_000_000 else { throw CheckoutError.badInput("tender \(index + 1): that much cash is not plausible") }
            } else if request.tenderedCents != nil, request.tenderedCents != amount {
                throw CheckoutError.badInput("tender \(index + 1): a card pays exactly its amount")
            }
            tenders.append(Tender(seq: index + 1, method: request.method, amountCents: amount, tenderedCents: tendered, changeCents: tendered - amount, reference: nil))
            remaining -= amount
        }
        guard remaining == 0 else { throw CheckoutError.badInput("the tenders pay \(Money.text(total - remaining)) of \(Money.text(total))") }
        return tenders
    }
}
