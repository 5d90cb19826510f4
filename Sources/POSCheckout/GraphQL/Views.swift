import POSPlatform

// What the GraphQL API returns: plain values shaped for clients, built from the domain types.
// Field names follow the original's client (camelCase, `basketId`, `itemId`, floats for money)
// and add the integer-cent fields new clients should use.

struct EmployeeView: Sendable {
    let id: Int
    let code: String
    let username: String
    let name: String
    let role: String

    init(_ employee: Employee) {
        id = employee.id
        code = employee.code
        username = employee.username
        name = employee.name
        role = employee.role.rawValue
    }
}

struct TerminalView: Sendable {
    let terminalId: String
    let loginTime: String
}

struct PositionView: Sendable {
    let topic: String
    let partition: Int
    /// Text: a Kafka offset may pass GraphQL's 32-bit Int.
    let offset: String
    let eventId: String

    init(_ position: PublishedPosition) {
        topic = position.topic
        partition = position.partition
        offset = String(position.offset)
        eventId = position.eventId
    }

    static func from(_ positions: [PublishedPosition]) -> PositionView? { positions.last.map(PositionView.init) }
}

struct LoginView: Sendable {
    let token: String
    let employee: EmployeeView
    let terminal: TerminalView
    let expiresAt: String
    let position: PositionView?
}

struct LogoutView: Sendable {
    let success: Bool
    let message: String
    let position: PositionView?
}

struct ProductView: Sendable {
    let id: String
    let productId: String
    let name: String
    let barcode: String?
    let price: Double
    let priceCents: Int
    let category: String
    let taxClass: String
    let ageRestricted: Bool
    let minimumAge: Int?

    init(_ product: Product) {
        id = product.id
        productId = product.id
        name = product.name
        barcode = product.barcode
        price = product.price
        priceCents = product.priceCents
        category = product.category
        taxClass = product.taxClass
        ageRestricted = product.ageRestricted
        minimumAge = product.minimumAge
    }
}

struct CustomerView: Sendable {
    let id: String
    let customerId: String
    let firstName: String
    let lastName: String
    let name: String
    let email: String?
    let phone: String?
    let loyaltyCard: String?
    let tier: String
    let loyaltyPoints: Int

    init(_ customer: Customer) {
        id = customer.id
        customerId = customer.id
        firstName = customer.firstName
        lastName = customer.lastName
        name = customer.name
        email = customer.email
        phone = customer.phone
        loyaltyCard = customer.loyaltyCard
        tier = customer.tier
        loyaltyPoints = customer.points
    }
}

struct BasketItemView: Sendable {
    let id: String
    let itemId: String
    let productId: String
    let productName: String
    let quantity: Int
    let price: Double
    let unitPriceCents: Int
    let lineTotal: Double
    let lineTotalCents: Int
    let ageRestricted: Bool
    let minimumAge: Int?

    init(_ line: BasketLine) {
        id = String(line.lineId)
        itemId = String(line.lineId)
        productId = line.productId
        productName = line.productName
        quantity = line.quantity
        price = Money.units(line.unitPriceCents)
        unitPriceCents = line.unitPriceCents
        lineTotal = Money.units(line.lineTotalCents)
        lineTotalCents = line.lineTotalCents
        ageRestricted = line.minimumAge != nil
        minimumAge = line.minimumAge
    }
}

struct TaxLineView: Sendable {
    let taxClass: String
    let ratePercent: Double
    let amountCents: Int
}

struct BasketView: Sendable {
    let id: String
    let basketId: String
    let status: String
    let terminalId: String
    let employeeId: Int
    let customerIdentifier: String?
    let customer: CustomerView?
    let items: [BasketItemView]
    let itemCount: Int
    let subtotal: Double
    let subtotalCents: Int
    let tax: Double
    let taxCents: Int
    let taxes: [TaxLineView]
    let total: Double
    let totalCents: Int
    let createdAt: String

    init(_ basket: Basket, customer: Customer?, taxRates: [String: Int]) {
        let totals = basket.totals(taxRates: taxRates)
        id = basket.id
        basketId = basket.id
        status = basket.status.rawValue
        terminalId = basket.terminalId
        employeeId = basket.employeeId
        customerIdentifier = basket.customerIdentifier
        self.customer = customer.map(CustomerView.init)
        items = basket.liveLines.map(BasketItemView.init)
        itemCount = totals.itemCount
        subtotal = Money.units(totals.subtotalCents)
        subtotalCents = totals.subtotalCents
        tax = Money.units(totals.taxCents)
        taxCents = totals.taxCents
        taxes = totals.taxByClass.sorted { $0.key < $1.key }.map {
            TaxLineView(taxClass: $0.key, ratePercent: Double(taxRates[$0.key] ?? 0) / 100, amountCents: $0.value)
        }
        total = Money.units(totals.totalCents)
        totalCents = totals.totalCents
        createdAt = UTCTime.iso8601(milliseconds: basket.createdAtMilliseconds)
    }
}

struct StartBasketView: Sendable {
    let basketId: String
    let status: String
    let basket: BasketView
    let position: PositionView?
}

struct BasketChangeView: Sendable {
    let success: Bool
    let message: String
    let basketTotal: Double
    let basket: BasketView
    let item: BasketItemView?
    /// The catalogue's price that was applied (addItem), in currency units and cents.
    let appliedPrice: Double?
    let appliedPriceCents: Int?
    /// Whether the client sent a price or name that the catalogue's replaced.
    let clientValuesIgnored: Bool
    let position: PositionView?
}

struct TenderView: Sendable {
    let method: String
    let amount: Double
    let amountCents: Int
    let tendered: Double
    let tenderedCents: Int
    let change: Double
    let changeCents: Int
    let reference: String?

    init(_ tender: Tender) {
        method = tender.method.rawValue
        amount = Money.units(tender.amountCents)
        amountCents = tender.amountCents
        tendered = Money.units(tender.tenderedCents)
        tenderedCents = tender.tenderedCents
        change = Money.units(tender.changeCents)
        changeCents = tender.changeCents
        reference = tender.reference
    }
}

struct PaymentView: Sendable {
    let success: Bool
    let basketId: String
    let status: String
    let idempotencyKey: String
    let paymentMethod: String
    let subtotalCents: Int
    let taxCents: Int
    let total: Double
    let totalCents: Int
    let change: Double
    let changeCents: Int
    let tenders: [TenderView]
    let paidAt: String
    let fraudDecision: String?
    let overriddenBy: Int?
    let receiptUrl: String
    let position: PositionView?

    init(_ result: PaymentResult) {
        success = true
        basketId = result.basketId
        status = "COMPLETED"
        idempotencyKey = result.idempotencyKey
        paymentMethod = result.paymentMethod
        subtotalCents = result.subtotalCents
        taxCents = result.taxCents
        total = Money.units(result.totalCents)
        totalCents = result.totalCents
        change = Money.units(result.changeCents)
        changeCents = result.changeCents
        tenders = result.tenders.map(TenderView.init)
        paidAt = UTCTime.iso8601(milliseconds: result.paidAtMilliseconds)
        fraudDecision = result.fraudDecision
        overriddenBy = result.overriddenBy
        receiptUrl = "/receipts/\(result.basketId)"
        self.position = result.position.map(PositionView.init)
    }
}
