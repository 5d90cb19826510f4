import Logging
import POSPlatform

/// A completed payment: what every retry with its idempotency key gets back.
public struct PaymentResult: Sendable, Equatable {
    public var basketId: String
    public var idempotencyKey: String
    public var subtotalCents: Int
    public var taxCents: Int
    public var totalCents: Int
    public var tenders: [Tender]
    public var paidAtMilliseconds: Int64
    /// fraud_detection's decision at payment (allow, review; block only when overridden).
    public var fraudDecision: String?
    /// The manager who overrode a fraud block, when one did.
    public var overriddenBy: Int?
    /// Where PAYMENT_PROCESSED landed (nil on a retry answered from the record).
    public var position: PublishedPosition?

    public var changeCents: Int { tenders.reduce(0) { $0 + $1.changeCents } }
    public var paymentMethod: String { Set(tenders.map(\.method)).count > 1 ? "SPLIT" : tenders.first?.method.rawValue ?? "NONE" }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "basket_id": .string(basketId), "idempotency_key": .string(idempotencyKey), "subtotal_cents": .number(Double(subtotalCents)),
            "tax_cents": .number(Double(taxCents)), "total_cents": .number(Double(totalCents)), "tenders": .array(tenders.map(\.json)),
            "paid_at_ms": .number(Double(paidAtMilliseconds)),
        ]
        if let fraudDecision { fields["fraud_decision"] = .string(fraudDecision) }
        if let overriddenBy { fields["overridden_by"] = .number(Double(overriddenBy)) }
        return .object(fields)
    }

    init(basketId: String, idempotencyKey: String, totals: BasketTotals, tenders: [Tender], paidAt: Int64, fraudDecision: String?, overriddenBy: Int?) {
        self.basketId = basketId
        self.idempotencyKey = idempotencyKey
        subtotalCents = totals.subtotalCents
        taxCents = totals.taxCents
        totalCents = totals.totalCents
        self.tenders = tenders
        paidAtMilliseconds = paidAt
        self.fraudDecision = fraudDecision
        self.overriddenBy = overriddenBy
    }

    init?(json text: String) {
        guard let value = try? JSONValue.parse(Array(text.utf8)), let basketId = value["basket_id"]?.stringValue, let key = value["idempotency_key"]?.stringValue,
            let subtotal = value["subtotal_cents"]?.exactInteger, let tax = value["tax_cents"]?.exactInteger, let total = value["total_cents"]?.exactInteger,
            let tenders = value["tenders"]?.arrayValue?.compactMap(Tender.init(json:)), let paidAt = value["paid_at_ms"]?.exactInteger
        else { return nil }
        self.basketId = basketId
        idempotencyKey = key
        subtotalCents = Int(subtotal)
        taxCents = Int(tax)
        totalCents = Int(total)
        self.tenders = tenders.enumerated().map { index, tender in
            var numbered = tender
            numbered.seq = index + 1
            return numbered
        }
        paidAtMilliseconds = paidAt
        fraudDecision = value["fraud_decision"]?.stringValue
        overriddenBy = value["overridden_by"]?.exactInteger.map { Int($0) }
    }
}

/// Taking payment for a basket: server totals, the plugins' decisions, tenders, and one charge
/// per idempotency key however often the request is sent.
public struct Payments: Sendable {
    let database: Database
    let outbox: Outbox
    let config: ApiConfig
    let provider: any PaymentProvider
    let decisions: any DecisionSource
    let logger: Logger

    public struct Request: Sendable {
        public var basketId: String
        /// The client's idea of the total, checked against the server's when given.
        public var expectedTotalCents: Int?
        public var tenders: [TenderRequest]
        /// Nil: the basket's id (a basket is paid once), for the original's clients.
        public var idempotencyKey: String?
        /// A manager's credentials, to go ahead despite a fraud block.
        public var overrideApprover: Employee?

        public init(basketId: String, expectedTotalCents: Int?, tenders: [TenderRequest], idempotencyKey: String?, overrideApprover: Employee?) {
            self.basketId = basketId
            self.expectedTotalCents = expectedTotalCents
            self.tenders = tenders
            self.idempotencyKey = idempotencyKey
            self.overrideApprover = overrideApprover
        }
    }

    public func pay(_ request: Request, by principal: Principal) async throws -> PaymentResult {
        let basketId = try Validate.basketId(request.basketId)
        let key = try request.idempotencyKey.map(Validate.idempotencyKey) ?? "basket:" + basketId
        if let earlier = try await earlierResult(key: key, basketId: basketId) { return earlier }

        // Claim the key (and the basket) and announce the attempt, in one transaction.
        let taxRates = config.taxRates
        let claim: ([Outbox.Row], Basket, BasketTotals, [Tender])
        do {
            claim = try await database.transaction { db -> ([Outbox.Row], Basket, BasketTotals, [Tender]) in
            let basket = try Baskets.load(db, basketId, lock: true)
            try Baskets.authorise(principal, basket, changing: false)
            let existing = try db.execute(
                "SELECT idempotency_key, status, created_at < now() - make_interval(secs => $2) FROM api_payments WHERE basket_id = $1",
                [.text(basketId), .text(String(Self.abandonedAfterSeconds))])
            if !existing.rows.isEmpty {
                let abandoned = existing.text(0, 1) == "PENDING" && existing.bool(0, 2) == true
                if abandoned {
                    // Its request died (a crash, a kill) before completing: nothing was recorded
                    // as charged, and a card charge under the same key is answered by the
                    // provider from its first attempt. Taken over.
                    try db.execute("DELETE FROM api_payments WHERE basket_id = $1 AND status = 'PENDING'", [.text(basketId)])
                } else if existing.text(0, 0) == key {
                    throw Retry.wait
                } else {
                    throw CheckoutError(.conflict, "basket \(basketId) is already \(existing.text(0, 1) == "PENDING" ? "being paid" : "paid") under another idempotency key")
                }
            }
            guard basket.status == .open else { throw CheckoutError(.conflict, "basket \(basketId) is \(basket.status.rawValue.lowercased())") }
            let totals = basket.totals(taxRates: taxRates)
            guard totals.itemCount > 0 else { throw CheckoutError.badInput("basket \(basketId) is empty") }
            if let expected = request.expectedTotalCents, expected != totals.totalCents {
                throw CheckoutError(
                    .badUserInput, "the total is \(Money.text(totals.totalCents)), not \(Money.text(expected)); nothing was charged",
                    details: ["total": Money.text(totals.totalCents), "totalCents": String(totals.totalCents)])
            }
            let tenders = try Tender.plan(request.tenders, total: totals.totalCents)
            let claimed = try db.execute(
                "INSERT INTO api_payments (basket_id, idempotency_key, status, employee_id, total_cents) VALUES ($1, $2, 'PENDING', $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                [.text(basketId), .text(key), .text(String(principal.employeeId)), .text(String(totals.totalCents))])
            if claimed.rows.isEmpty { throw Retry.wait }
            let rows = try Outbox.append([
                CheckoutEvent(type: "PAYMENT_INITIATED", terminalId: basket.terminalId, correlationId: basketId, payload: [
                    "basket_id": .string(basketId), "terminal_id": .string(basket.terminalId), "amount": Money.json(totals.totalCents),
                    "payment_method": .string(Self.method(of: tenders)), "employee_id": .number(Double(principal.employeeId)),
                ])
            ], in: db)
            return (rows, basket, totals, tenders)
            }
        } catch Retry.wait {
            return try await waitForResult(key: key, basketId: basketId)
        }
        let (claimRows, basket, totals, tenders) = claim
        let initiated = await outbox.publish(claimRows).compactMap { $0 }
        do {
            let fraud = try await decide(basket: basket, after: initiated, override: request.overrideApprover, by: principal)
            let charged = try await charge(tenders, basket: basket, key: key)
            return try await complete(basket: basket, key: key, totals: totals, tenders: charged, fraud: fraud, by: principal)
        } catch {
            // Refused or failed before the money moved: the key is released for a new attempt.
            _ = try? await database.run { db in
                try db.execute("DELETE FROM api_payments WHERE basket_id = $1 AND idempotency_key = $2 AND status = 'PENDING'", [.text(basketId), .text(key)])
            }
            throw error
        }
    }

    /// A PENDING claim older than this belongs to a request that died: the next attempt takes it over.
    static let abandonedAfterSeconds = 60

    static func method(of tenders: [Tender]) -> String {
        Set(tenders.map(\.method)).count > 1 ? "SPLIT" : tenders.first?.method.rawValue ?? "NONE"
    }

    /// A completed payment under this key, if there is one.
    private func earlierResult(key: String, basketId: String) async throws -> PaymentResult? {
        try await database.run { db in
            let rows = try db.execute("SELECT basket_id, status, result FROM api_payments WHERE idempotency_key = $1", [.text(key)])
            guard !rows.rows.isEmpty, rows.text(0, 1) == "COMPLETED", let text = rows.text(0, 2) else { return nil }
            guard rows.text(0, 0) == basketId else {
                throw CheckoutError(.conflict, "this idempotency key was used for basket \(rows.text(0, 0) ?? "?"); use a new key for a new payment")
            }
            return PaymentResult(json: text)
        }
    }

    /// Another request holds the key: waits for its result (up to 15 s).
    private func waitForResult(key: String, basketId: String) async throws -> PaymentResult {
        for _ in 0..<300 {
            if let result = try await earlierResult(key: key, basketId: basketId) { return result }
            let pending = try await database.run { db in
                try !db.execute("SELECT 1 FROM api_payments WHERE idempotency_key = $1 AND status = 'PENDING'", [.text(key)]).rows.isEmpty
            }
            if !pending {
                // It may have completed between the two reads: its result is this one's.
                if let result = try await earlierResult(key: key, basketId: basketId) { return result }
                // The other attempt was refused and released the key: this one is refused too
                // (the same request, the same answer), and may be sent again.
                throw CheckoutError(.conflict, "a payment with this idempotency key was just refused; check the basket and try again")
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw CheckoutError(.conflict, "a payment with this idempotency key is still in progress; try again shortly")
    }

    /// age_verification's payment gate and fraud_detection's assessment, each reflecting every
    /// event of the basket published before the question. Returns the fraud decision.
    private func decide(basket: Basket, after positions: [PublishedPosition], override approver: Employee?, by principal: Principal) async throws -> FraudOutcome {
        let wait = config.decisionWaitMilliseconds
        let request = JSONValue.object(["basket_id": .string(basket.id)])
        async let gate = decisions.ask(plugin: "age_verification", query: "payment_gate", request: request, after: positions, waitMilliseconds: wait)
        async let assessment = decisions.ask(plugin: "fraud_detection", query: "assessment", request: request, after: positions, waitMilliseconds: wait)
        let (gateAnswer, fraudAnswer) = await (gate, assessment)

        switch gateAnswer {
        case .success(let answer):
            if answer["allowed"] == .bool(false) {
                let reason = answer["reason"]?.stringValue ?? "AGE_VERIFICATION_REQUIRED"
                let held = answer["held_items"]?.arrayValue?.compactMap { $0["product_id"]?.stringValue } ?? []
                throw CheckoutError(
                    .paymentRefused, "payment refused: \(reason == "UNVERIFIED_RESTRICTED_ITEMS" ? "verify the customer's age for \(held.joined(separator: ", ")) first" : reason)",
                    details: ["plugin": "age_verification", "reason": reason, "heldItems": held.joined(separator: ",")])
            }
        case .failure(let failure):
            try fallback("age_verification", failure)
        }

        switch fraudAnswer {
        case .success(let answer):
            let decision = answer["decision"]?.stringValue ?? "allow"
            if decision == "block" {
                let reasons = answer["reasons"]?.arrayValue?.compactMap { $0["rule_id"]?.stringValue } ?? []
                guard let approver else {
                    throw CheckoutError(
                        .paymentRefused, "payment blocked by fraud detection (\(reasons.joined(separator: ", "))); a manager may override",
                        details: ["plugin": "fraud_detection", "reason": "FRAUD_BLOCK", "rules": reasons.joined(separator: ","), "score": answer["score"]?.jsonText ?? ""])
                }
                try await database.run { db in
                    _ = try db.execute(
                        "INSERT INTO api_approvals (kind, basket_id, requested_by, approver_employee_id, detail) VALUES ('FRAUD_OVERRIDE', $1, $2, $3, $4)",
                        [.text(basket.id), .text(String(principal.employeeId)), .text(String(approver.id)), .text("rules: " + reasons.joined(separator: ", "))])
                }
                logger.notice("fraud block on \(basket.id) overridden by employee \(approver.id)")
                return FraudOutcome(decision: decision, overriddenBy: approver.id)
            }
            return FraudOutcome(decision: decision, overriddenBy: nil)
        case .failure(let failure):
            try fallback("fraud_detection", failure)
            return FraudOutcome(decision: nil, overriddenBy: nil)
        }
    }

    private func fallback(_ plugin: String, _ failure: DecisionFailure) throws {
        let open = config.failOpen[plugin] ?? false
        let detail: String
        switch failure {
        case .pending(let text), .unavailable(let text), .refused(let text): detail = text
        }
        logger.warning("\(plugin) gave no decision (\(detail)); failing \(open ? "open" : "closed")")
        guard open else {
            if case .pending = failure {
                throw CheckoutError(.decisionPending, "\(plugin) has not caught up with this basket yet; try again in a moment", details: ["plugin": plugin])
            }
            throw CheckoutError(.unavailable, "\(plugin) cannot decide (\(detail)), and payments wait for it", details: ["plugin": plugin])
        }
    }

    /// Charges the card tenders; cash needs no provider.
    private func charge(_ tenders: [Tender], basket: Basket, key: String) async throws -> [Tender] {
        var charged: [Tender] = []
        for tender in tenders {
            guard tender.method == .card else {
                charged.append(tender)
                continue
            }
            let outcome = await provider.charge(amountCents: tender.amountCents, idempotencyKey: "\(key):\(tender.seq)", reference: basket.id)
            let (text, reference): (String, String?) = switch outcome {
            case .approved(let reference): ("APPROVED", reference)
            case .declined(let reason): ("DECLINED: \(reason)", nil)
            case .timedOut: ("TIMED_OUT", nil)
            }
            try await database.run { db in
                _ = try db.execute(
                    "INSERT INTO api_card_attempts (basket_id, idempotency_key, amount_cents, outcome, reference) VALUES ($1, $2, $3, $4, $5)",
                    [.text(basket.id), .text(key), .text(String(tender.amountCents)), .text(text), reference.map { .text($0) } ?? .null])
            }
            switch outcome {
            case .approved(let reference):
                var done = tender
                done.reference = reference
                charged.append(done)
            case .declined(let reason):
                throw CheckoutError(.paymentRefused, "the card was declined (\(reason)); try another card or cash", details: ["reason": "CARD_DECLINED"])
            case .timedOut:
                throw CheckoutError(.unavailable, "the card terminal did not answer; send the same payment again (it will not charge twice)", details: ["reason": "CARD_TIMEOUT"])
            }
        }
        return charged
    }

    private func complete(basket: Basket, key: String, totals: BasketTotals, tenders: [Tender], fraud: FraudOutcome, by principal: Principal) async throws -> PaymentResult {
        let now = CheckoutClock.nowMilliseconds()
        let result = PaymentResult(
            basketId: basket.id, idempotencyKey: key, totals: totals, tenders: tenders, paidAt: now, fraudDecision: fraud.decision, overriddenBy: fraud.overriddenBy)
        let rows = try await database.transaction { db -> [Outbox.Row] in
            try db.execute(
                "INSERT INTO api_tenders (basket_id, seq, method, amount_cents, tendered_cents, change_cents, reference) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[])",
                [
                    .text(basket.id), .text(PostgresArrayLiteral.text(tenders.map { String($0.seq) })), .text(PostgresArrayLiteral.text(tenders.map(\.method.rawValue))),
                    .text(PostgresArrayLiteral.text(tenders.map { String($0.amountCents) })), .text(PostgresArrayLiteral.text(tenders.map { String($0.tenderedCents) })),
                    .text(PostgresArrayLiteral.text(tenders.map { String($0.changeCents) })), .text(PostgresArrayLiteral.text(tenders.map(\.reference))),
                ])
            try db.execute(
                "UPDATE api_payments SET status = 'COMPLETED', result = $3, completed_at = now() WHERE basket_id = $1 AND idempotency_key = $2",
                [.text(basket.id), .text(key), .text(result.json.jsonText)])
            try db.execute("UPDATE api_baskets SET status = 'PAID', closed_at = now() WHERE id = $1", [.text(basket.id)])
            let lines = basket.liveLines.map { line -> JSONValue in
                .object([
                    "product_id": .string(line.productId), "quantity": .number(Double(line.quantity)), "price": Money.json(line.unitPriceCents),
                    "line_id": .number(Double(line.lineId)),
                ])
            }
            var payload: [String: JSONValue] = [
                "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "amount": Money.json(totals.totalCents),
                "subtotal": Money.json(totals.subtotalCents), "tax": Money.json(totals.taxCents), "payment_method": .string(Self.method(of: tenders)),
                "employee_id": .number(Double(principal.employeeId)), "tenders": .array(tenders.map(\.json)), "items": .array(lines),
            ]
            if let customer = basket.customerId { payload["customer_id"] = .string(customer) }
            return try Outbox.append([
                CheckoutEvent(type: "PAYMENT_PROCESSED", terminalId: basket.terminalId, correlationId: basket.id, payload: payload, at: now),
                CheckoutEvent(type: "BASKET_CLOSED", terminalId: basket.terminalId, correlationId: basket.id, payload: [
                    "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "reason": .string("PAID"),
                ], at: now),
            ], in: db)
        }
        let positions = await outbox.publish(rows)
        var done = result
        done.position = positions.first ?? nil
        return done
    }
}

struct FraudOutcome: Sendable {
    var decision: String?
    var overriddenBy: Int?
}

/// The payment's key is held by another request: wait for its result instead.
enum Retry: Error { case wait }
