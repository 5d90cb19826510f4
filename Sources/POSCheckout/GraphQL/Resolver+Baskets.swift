import AAMVA
import Graphiti
import POSPlatform

extension Resolver {
    struct StartBasketArguments: Codable, Sendable {
        let employeeId: Int?
        let terminalId: String?
        let customerIdentifier: String?
    }

    func startBasket(context: ApiContext, arguments: StartBasketArguments) async throws -> StartBasketView {
        let principal = try await context.principal()
        let identifier = arguments.customerIdentifier.flatMap { $0.trimmingWhitespace.isEmpty ? nil : $0.trimmingWhitespace }
        let customer: Customer? = if let identifier { try await context.services.catalogue.customer(identifier: identifier) } else { nil }
        let change = try await context.services.baskets.start(
            by: principal, terminalId: arguments.terminalId, employeeId: arguments.employeeId, customer: customer, customerIdentifier: identifier)
        return StartBasketView(
            basketId: change.basket.id, status: change.basket.status.rawValue, basket: try await basketView(change.basket, context),
            position: PositionView.from(change.positions))
    }

    struct AddItemArguments: Codable, Sendable {
        let basketId: String
        let productId: String
        /// The original's client sends these; the catalogue's values are used instead.
        let productName: String?
        let quantity: Int?
        let price: Double?
        let terminalId: String?
    }

    func addItem(context: ApiContext, arguments: AddItemArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let code = arguments.productId.trimmingWhitespace
        guard !code.isEmpty, code.utf8.count <= 128 else { throw CheckoutError.badInput("a product id or barcode is 1 to 128 characters") }
        guard let product = try await context.services.catalogue.product(code: code) else {
            throw CheckoutError.notFound("no product \(code) in the catalogue")
        }
        let change = try await context.services.baskets.add(product, quantity: arguments.quantity ?? 1, to: arguments.basketId, by: principal)
        let ignored = (arguments.price.map { Money.cents($0) != product.priceCents } ?? false) || (arguments.productName.map { $0 != product.name } ?? false)
        return try await changeView(change, context, message: "added \(product.name)", applied: product.priceCents, ignored: ignored)
    }

    func changeView(_ change: Baskets.Change, _ context: ApiContext, message: String, applied: Int? = nil, ignored: Bool = false) async throws -> BasketChangeView {
        let view = try await basketView(change.basket, context)
        return BasketChangeView(
            success: true, message: message, basketTotal: view.total, basket: view, item: change.line.map(BasketItemView.init),
            appliedPrice: applied.map(Money.units), appliedPriceCents: applied, clientValuesIgnored: ignored, position: PositionView.from(change.positions))
    }

    static func lineId(_ text: String) throws -> Int {
        guard let id = Int(text.trimmingWhitespace), id > 0 else { throw CheckoutError.badInput("'\(text.prefix(40))' is not an item id of this basket") }
        return id
    }

    struct RemoveItemArguments: Codable, Sendable {
        let basketId: String
        let itemId: String
        /// A manager's credentials, for a void above the approval threshold.
        let approverUsername: String?
        let approverPassword: String?
    }

    func removeItem(context: ApiContext, arguments: RemoveItemArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let approver: Employee? = if let username = arguments.approverUsername {
            try await context.services.signIn.approver(username: username, password: arguments.approverPassword ?? "", for: principal, action: "a void")
        } else { nil }
        let change = try await context.services.baskets.remove(line: try Self.lineId(arguments.itemId), from: arguments.basketId, by: principal, approver: approver)
        return try await changeView(change, context, message: "removed \(change.line?.productName ?? "the item")")
    }

    struct UpdateQuantityArguments: Codable, Sendable {
        let basketId: String
        let itemId: String
        let quantity: Int
    }

    func updateQuantity(context: ApiContext, arguments: UpdateQuantityArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let change = try await context.services.baskets.update(line: try Self.lineId(arguments.itemId), quantity: arguments.quantity, in: arguments.basketId, by: principal)
        return try await changeView(change, context, message: "\(change.line?.productName ?? "the item") now x\(arguments.quantity)")
    }

    struct IdentifyCustomerArguments: Codable, Sendable {
        let basketId: String
        let customerIdentifier: String
    }

    func identifyCustomer(context: ApiContext, arguments: IdentifyCustomerArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let identifier = arguments.customerIdentifier.trimmingWhitespace
        let customer = try await context.services.catalogue.customer(identifier: identifier)
        let change = try await context.services.baskets.identify(customer: customer, identifier: identifier, in: arguments.basketId, by: principal)
        return try await changeView(change, context, message: customer.map { "customer \($0.name) (\($0.tier))" } ?? "no customer found for that identifier")
    }

    struct FinalizeArguments: Codable, Sendable {
        let basketId: String
    }

    func finalizeBasket(context: ApiContext, arguments: FinalizeArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let basket = try await context.services.baskets.basket(arguments.basketId, for: principal)
        let totals = basket.totals(taxRates: context.services.config.taxRates)
        let change = try await context.services.baskets.record(
            "SUBTOTAL_FINALIZED", payload: ["subtotal": Money.json(totals.subtotalCents), "tax": Money.json(totals.taxCents), "total": Money.json(totals.totalCents)],
            in: basket.id, by: principal)
        return try await changeView(change, context, message: "total \(Money.text(totals.totalCents))")
    }

    // MARK: Age verification

    struct VerifyAgeArguments: Codable, Sendable {
        let basketId: String
        let verifierEmployeeId: Int?
        let customerAge: Int?
        /// YYYY-MM-DD, as typed from an ID.
        let dateOfBirth: String?
        /// The text a PDF417 scanner reads from a driving licence or ID card (AAMVA). Read
        /// here and never stored or published: only the derived age and expiry leave pos-api.
        let idScan: String?
        let terminalId: String?
        let verificationMethod: String?
    }

    func verifyAge(context: ApiContext, arguments: VerifyAgeArguments) async throws -> AgeCheckView {
        let principal = try await context.principal()
        let verifier = arguments.verifierEmployeeId ?? principal.employeeId
        if verifier != principal.employeeId { try principal.require(.manager, to: "verifying an age in another employee's name") }
        var payload: [String: JSONValue] = ["verifier_employee_id": .number(Double(verifier))]
        if let scan = arguments.idScan {
            guard scan.utf8.count <= 8192 else { throw CheckoutError.badInput("an ID scan is at most 8192 bytes") }
            payload.merge(Self.derivedFacts(scan, now: CheckoutClock.nowMilliseconds())) { $1 }
        } else if let text = arguments.dateOfBirth {
            guard let birth = CivilDay(iso: Substring(text.trimmingWhitespace)), birth.isValid else {
                throw CheckoutError.badInput("'\(text.prefix(40))' is not a date of birth (YYYY-MM-DD)")
            }
            // A typed date of birth is the cashier's reading, not a document: only the age
            // leaves pos-api, on the earliest calendar date anywhere (never older than they are).
            let today = CivilDay(unixMilliseconds: CheckoutClock.nowMilliseconds(), offsetSeconds: -12 * 3600)
            guard birth <= today else { throw CheckoutError.badInput("the date of birth \(birth) is in the future") }
            payload["customer_age"] = .number(Double(birth.age(on: today)))
            payload["method"] = .string("DATE_OF_BIRTH")
        } else if let age = arguments.customerAge {
            guard (0...150).contains(age) else { throw CheckoutError.badInput("\(age) is not an age") }
            payload["customer_age"] = .number(Double(age))
            payload["method"] = .string(arguments.verificationMethod.map { String($0.prefix(32)) } ?? "MANUAL_CHECK")
        } else {
            throw CheckoutError.badInput("give customerAge, dateOfBirth or idScan")
        }
        let change = try await context.services.baskets.record("AGE_VERIFIED", payload: payload, in: arguments.basketId, by: principal)
        let gate = try await context.services.plugins.query(
            "age_verification", "payment_gate", .object(["basket_id": .string(change.basket.id)]), after: change.positions)
        return AgeCheckView(
            verified: gate["allowed"] == .bool(true), reason: gate["reason"]?.stringValue, method: payload["method"]?.stringValue ?? "",
            basket: try await basketView(change.basket, context), position: PositionView.from(change.positions))
    }

    /// What an ID scan tells, without the ID: the age in completed years on the earliest
    /// calendar date anywhere (UTC-12, so nobody is taken for older than they are), whether it
    /// had expired on the latest date anywhere (UTC+14, so no expired ID passes), or why it
    /// could not be read.
    static func derivedFacts(_ scan: String, now: Int64) -> [String: JSONValue] {
        let document: IdentityDocument
        do { document = try IdentityDocument(scanned: scan) } catch {
            return ["method": .string("ID_SCAN"), "id_problem": .string(error.description)]
        }
        let earliest = CivilDay(unixMilliseconds: now, offsetSeconds: -12 * 3600)
        let latest = CivilDay(unixMilliseconds: now, offsetSeconds: 14 * 3600)
        if document.dateOfBirth > earliest { return ["method": .string("ID_SCAN"), "id_problem": .string("the date of birth on this ID is in the future")] }
        if document.underAgeDatesDisagree {
            return ["method": .string("ID_SCAN"), "id_problem": .string("the under-age dates printed on this ID do not match its date of birth")]
        }
        return [
            "method": .string("ID_SCAN"), "customer_age": .number(Double(document.dateOfBirth.age(on: earliest))),
            "id_expired": .bool(document.isExpired(on: latest)),
        ]
    }

    struct CancelAgeArguments: Codable, Sendable {
        let basketId: String
        let employeeId: Int?
    }

    func cancelAgeVerification(context: ApiContext, arguments: CancelAgeArguments) async throws -> BasketChangeView {
        let principal = try await context.principal()
        let change = try await context.services.baskets.record(
            "AGE_VERIFICATION_CANCELLED", payload: ["employee_id": .number(Double(arguments.employeeId ?? principal.employeeId))], in: arguments.basketId, by: principal)
        return try await changeView(change, context, message: "age check cancelled; held items dropped")
    }

    // MARK: Payment

    struct TenderInput: Codable, Sendable {
        let method: String
        let amount: Double?
        let tendered: Double?
    }

    struct ProcessPaymentArguments: Codable, Sendable {
        let basketId: String
        let terminalId: String?
        let employeeId: Int?
        let totalAmount: Double?
        let paymentMethod: String?
        let tenders: [TenderInput]?
        let idempotencyKey: String?
        let overrideUsername: String?
        let overridePassword: String?
    }

    func processPayment(context: ApiContext, arguments: ProcessPaymentArguments) async throws -> PaymentView {
        let principal = try await context.principal()
        if let employee = arguments.employeeId, employee != principal.employeeId { try principal.require(.manager, to: "taking a payment in another employee's name") }
        var expected: Int?
        if let total = arguments.totalAmount {
            guard let cents = Money.cents(total) else { throw CheckoutError.badInput("totalAmount \(total) is not an amount of money") }
            expected = cents
        }
        func method(_ text: String) throws -> TenderRequest.Method {
            switch text.uppercased() {
            case "CASH": return .cash
            case "CARD", "CREDIT", "DEBIT", "CREDIT_CARD", "DEBIT_CARD": return .card
            default: throw CheckoutError.badInput("payment method '\(text.prefix(20))' is not CASH or CARD")
            }
        }
        func cents(_ value: Double?, _ what: String) throws -> Int? {
            guard let value else { return nil }
            guard let cents = Money.cents(value), cents > 0 else { throw CheckoutError.badInput("\(what) \(value) is not an amount of money") }
            return cents
        }
        let tenders: [TenderRequest] = try arguments.tenders.map { list in
            try list.map { TenderRequest(method: try method($0.method), amountCents: try cents($0.amount, "amount"), tenderedCents: try cents($0.tendered, "tendered")) }
        } ?? [TenderRequest(method: try method(arguments.paymentMethod ?? "CASH"), amountCents: nil, tenderedCents: nil)]
        let approver: Employee? = if let username = arguments.overrideUsername {
            try await context.services.signIn.approver(username: username, password: arguments.overridePassword ?? "", for: principal, action: "a fraud override")
        } else { nil }
        let result = try await context.services.payments.pay(
            Payments.Request(basketId: arguments.basketId, expectedTotalCents: expected, tenders: tenders, idempotencyKey: arguments.idempotencyKey, overrideApprover: approver),
            by: principal)
        return PaymentView(result)
    }
}

struct AgeCheckView: Sendable {
    let verified: Bool
    let reason: String?
    let method: String
    let basket: BasketView
    let position: PositionView?
}
