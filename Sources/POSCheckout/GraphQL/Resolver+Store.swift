import POSPlatform

/// A fraud alert as fraud_detection keeps it.
struct FraudAlertView: Sendable {
    let alertId: String
    let ruleId: String
    let severity: String
    let employeeId: String?
    let terminalId: String?
    let basketId: String?
    let threshold: Double
    let actual: Double
    let windowSeconds: Double
    let raisedAt: String
    let acknowledged: Bool
    let acknowledgedBy: String?
    let acknowledgedAt: String?

    init(_ alert: JSONValue) {
        alertId = alert["alert_id"]?.stringValue ?? ""
        ruleId = alert["rule_id"]?.stringValue ?? ""
        severity = alert["severity"]?.stringValue ?? ""
        employeeId = alert["employee_id"]?.stringValue
        terminalId = alert["terminal_id"]?.stringValue
        basketId = alert["basket_id"]?.stringValue
        threshold = alert["threshold"]?.numberValue ?? 0
        actual = alert["actual"]?.numberValue ?? 0
        windowSeconds = alert["window_seconds"]?.numberValue ?? 0
        raisedAt = UTCTime.iso8601(milliseconds: alert["raised_at_ms"]?.exactInteger ?? 0)
        acknowledged = alert["acknowledged"] == .bool(true)
        acknowledgedBy = alert["acknowledged_by"]?.stringValue
        acknowledgedAt = alert["acknowledged_at_ms"]?.exactInteger.map { UTCTime.iso8601(milliseconds: $0) }
    }
}

/// A sale of a restricted item that age_verification refused or that went ahead unverified.
struct AgeViolationView: Sendable {
    let basketId: String
    let reason: String
    let reasons: [String]
    let at: String
    let minimumAge: Int?
    let verifier: String?
    let method: String?

    init(_ violation: JSONValue) {
        basketId = violation["basket_id"]?.stringValue ?? ""
        reason = violation["reason"]?.stringValue ?? ""
        reasons = violation["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? []
        at = UTCTime.iso8601(milliseconds: violation["at_ms"]?.exactInteger ?? 0)
        minimumAge = violation["minimum_age"]?.exactInteger.map { Int($0) }
        verifier = violation["verifier"]?.stringValue
        method = violation["method"]?.stringValue
    }
}

/// An item age_verification holds until the customer's age is checked.
struct HeldItemView: Sendable {
    let productId: String
    let quantity: Int
    let minimumAge: Int
}

/// Whether a basket may be paid as far as the age check goes, and what it holds.
struct AgeGateView: Sendable {
    let basketId: String
    let allowed: Bool
    let reason: String?
    let minimumAge: Int?
    let heldItems: [HeldItemView]
}

/// The manager's screens (fraud alerts, age violations) and the till's age gate: reads of the
/// plugins' state through pos-host, and the one change a manager makes there (acknowledging).
extension Resolver {
    struct FraudAlertsArguments: Codable, Sendable {
        let unacknowledged: Bool?
        let basketId: String?
    }

    func fraudAlerts(context: ApiContext, arguments: FraudAlertsArguments) async throws -> [FraudAlertView] {
        try await context.principal().require(.manager, to: "reading fraud alerts")
        var request: [String: JSONValue] = [:]
        if let basket = arguments.basketId { request["basket_id"] = .string(try Validate.basketId(basket)) }
        if arguments.unacknowledged == true { request["unacknowledged"] = .bool(true) }
        let answer = try await context.services.plugins.query("fraud_detection", "alerts", .object(request))
        return (answer.arrayValue ?? []).map(FraudAlertView.init).reversed()
    }

    struct AcknowledgeArguments: Codable, Sendable {
        let alertId: String
        let note: String?
    }

    /// Publishes FRAUD_ALERT_ACKNOWLEDGED and answers with the alert once fraud_detection has
    /// handled it, so the list the manager sees next already shows it acknowledged.
    func acknowledgeFraudAlert(context: ApiContext, arguments: AcknowledgeArguments) async throws -> FraudAlertView {
        let principal = try await context.principal()
        try principal.require(.manager, to: "acknowledging fraud alerts")
        let alertId = arguments.alertId
        guard !alertId.isEmpty, alertId.utf8.count <= 128, alertId.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw CheckoutError.badInput("'\(alertId.prefix(40))' is not an alert id")
        }
        if let note = arguments.note, note.utf8.count > 500 { throw CheckoutError.badInput("the note is longer than 500 bytes") }
        let known = try await context.services.plugins.query("fraud_detection", "alerts", .object([:]))
        guard let current = known.arrayValue?.first(where: { $0["alert_id"]?.stringValue == alertId }) else {
            throw CheckoutError.notFound("no fraud alert \(alertId)")
        }
        if current["acknowledged"] == .bool(true) { return FraudAlertView(current) }
        var payload: [String: JSONValue] = ["alert_id": .string(alertId), "employee_id": .number(Double(principal.employeeId))]
        if let note = arguments.note, !note.isEmpty { payload["note"] = .string(note) }
        let event = CheckoutEvent(type: "FRAUD_ALERT_ACKNOWLEDGED", terminalId: principal.terminalId, payload: payload)
        let rows = try await context.services.database.transaction { db in try Outbox.append([event], in: db) }
        let positions = await context.services.outbox.publish(rows).compactMap { $0 }
        let after = try await context.services.plugins.query("fraud_detection", "alerts", .object([:]), after: positions)
        guard let updated = after.arrayValue?.first(where: { $0["alert_id"]?.stringValue == alertId }) else {
            throw CheckoutError.notFound("no fraud alert \(alertId)")
        }
        return FraudAlertView(updated)
    }

    struct ViolationsArguments: Codable, Sendable {
        let basketId: String?
    }

    func ageViolations(context: ApiContext, arguments: ViolationsArguments) async throws -> [AgeViolationView] {
        try await context.principal().require(.manager, to: "reading age-verification violations")
        var request: [String: JSONValue] = [:]
        if let basket = arguments.basketId { request["basket_id"] = .string(try Validate.basketId(basket)) }
        let answer = try await context.services.plugins.query("age_verification", "violations", .object(request))
        return (answer.arrayValue ?? []).map(AgeViolationView.init).reversed()
    }

    struct AgeGateArguments: Codable, Sendable {
        let basketId: String
    }

    /// age_verification's view of a basket after its latest event: what it holds, and why.
    func ageGate(context: ApiContext, arguments: AgeGateArguments) async throws -> AgeGateView {
        let principal = try await context.principal()
        let basket = try await context.services.baskets.basket(arguments.basketId, for: principal)
        let latest = try await context.services.outbox.latestPosition(of: basket.id)
        let answer = try await context.services.plugins.query(
            "age_verification", "payment_gate", .object(["basket_id": .string(basket.id)]), after: latest.map { [$0] } ?? [])
        let held = (answer["held_items"]?.arrayValue ?? []).map {
            HeldItemView(
                productId: $0["product_id"]?.stringValue ?? "", quantity: Int($0["quantity"]?.exactInteger ?? 1),
                minimumAge: Int($0["minimum_age"]?.exactInteger ?? 0))
        }
        return AgeGateView(
            basketId: basket.id, allowed: answer["allowed"] != .bool(false), reason: answer["reason"]?.stringValue,
            minimumAge: answer["minimum_age"]?.exactInteger.map { Int($0) }, heldItems: held)
    }
}
