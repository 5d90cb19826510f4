import PluginSDK

/// An alert as stored, published and listed.
struct Alert: Codable, Sendable {
    var alertId: String
    var ruleId: String
    var severity: Severity
    var employeeId: String?
    var terminalId: String?
    var basketId: String?
    var threshold: Double
    var actual: Double
    var windowSeconds: Double
    var raisedAtMs: Int64
    var acknowledged: Bool = false
    var acknowledgedBy: String?
    var acknowledgedAtMs: Int64?
}

/// What the payment flow asks: allow, review (a supervisor confirms) or block.
struct Assessment: Codable, Sendable {
    struct Reason: Codable, Sendable {
        var ruleId: String
        var severity: Severity
        var threshold: Double
        var actual: Double
    }
    var basketId: String
    var score: Double
    var decision: String
    var reasons: [Reason]
}

/// A basket as the rules need it.
struct BasketRecord: Codable {
    var terminalId: String?
    var employeeId: String?
    var startedMs: Int64?
    var customerKnown = false
    var itemTimes: [Int64] = []
    var addedValue = 0.0
    var removedValue = 0.0
    var voids = 0
    var alertIds: [String] = []
    var fired: [String] = []
    var assessed = false
}

/// An employee's open sessions (terminal -> login time) and last login.
struct SessionRecord: Codable {
    var terminals: [String: Int64] = [:]
    var lastLoginMs: Int64?
}

/// The rules over the plugin's state. One engine per call; `now` is the event's time.
struct FraudEngine {
    let settings: FraudSettings
    let state: PluginState
    let host: PluginHost
    let now: Int64
    let causeKey: String

    // MARK: - Sessions

    mutating func login(_ event: Session) throws {
        let employee = event.employeeId.description
        var record = try state.get("session:\(employee)", as: SessionRecord.self) ?? SessionRecord()
        record.terminals[event.terminalId] = now
        record.lastLoginMs = now
        try state.put("session:\(employee)", json: record)
        try state.put("terminal:\(event.terminalId)", json: employee)

        // multiple_terminals: logged in on `threshold` terminals at once, logins within the window.
        let rule = settings.rules.multipleTerminals
        let window = Int64(rule.windowSeconds * 1000)
        let concurrent = record.terminals.values.filter { window == 0 || now - $0 <= window }.count
        if rule.enabled, Double(concurrent) >= rule.threshold {
            try raise(
                "multiple_terminals", rule, subject: "employee:\(employee)", actual: Double(concurrent), employee: employee, terminal: event.terminalId,
                basket: nil, dedupeWindowMs: max(window, 1_000))
        }
    }

    mutating func logout(_ event: Session) throws {
        let employee = event.employeeId.description
        guard var record = try state.get("session:\(employee)", as: SessionRecord.self) else { return }
        record.terminals[event.terminalId] = nil
        try state.put("session:\(employee)", json: record)
    }

    // MARK: - Baskets

    func basket(_ id: String) throws -> BasketRecord { try state.get("basket:\(id)", as: BasketRecord.self) ?? BasketRecord() }
    func save(_ id: String, _ record: BasketRecord) throws { try state.put("basket:\(id)", json: record) }

    mutating func basketStarted(_ event: BasketStarted) throws {
        var record = try basket(event.basketId)
        record.terminalId = event.terminalId
        record.startedMs = now
        let onTerminal = try state.get("terminal:\(event.terminalId)", as: String.self)
        record.employeeId = event.employeeId?.description ?? onTerminal
        if let identifier = event.customerIdentifier, !identifier.isEmpty { record.customerKnown = true }
        try save(event.basketId, record)
    }

    mutating func customerIdentified(_ event: BasketRef) throws {
        // CUSTOMER_DATA_FETCHED comes from customer_lookup and may arrive after the basket was
        // paid: it updates an open basket and never re-creates a finished one's row.
        guard let id = event.basketId, var record = try state.get("basket:\(id)", as: BasketRecord.self) else { return }
        record.customerKnown = true
        try save(id, record)
    }

    mutating func itemAdded(_ event: Item) throws {
        var record = try basket(event.basketId)
        let quantity = Double(event.quantity ?? 1)
        record.addedValue += (event.price ?? 0) * quantity

        // rapid_items: `threshold` items scanned into the basket within the window.
        let rapid = settings.rules.rapidItems
        let window = Int64(rapid.windowSeconds * 1000)
        record.itemTimes.append(now)
        record.itemTimes.removeAll { now - $0 > window }
        if rapid.enabled, Double(record.itemTimes.count) >= rapid.threshold {
            try raise("rapid_items", rapid, actual: Double(record.itemTimes.count), basketId: event.basketId, record: &record)
        }

        // price_override: sold at least `threshold` (a fraction) below the product's usual price.
        if let price = event.price {
            let override = settings.rules.priceOverride
            let usual = try state.get("price:\(event.productId)", as: Double.self)
            if let usual, usual > 0, (usual - price) / usual >= override.threshold {
                if override.enabled {
                    try raise("price_override", override, actual: (usual - price) / usual, basketId: event.basketId, record: &record)
                }
            } else {
                try state.put("price:\(event.productId)", json: price)  // learn only from normal sales
            }
        }
        try save(event.basketId, record)
    }

    mutating func itemRemoved(_ event: Item) throws {
        var record = try basket(event.basketId)
        record.voids += 1
        record.removedValue += (event.price ?? 0) * Double(event.quantity ?? 1)

        // excessive_voids: `threshold` items voided from one basket.
        let voids = settings.rules.excessiveVoids
        if voids.enabled, Double(record.voids) >= voids.threshold {
            try raise("excessive_voids", voids, actual: Double(record.voids), basketId: event.basketId, record: &record)
        }

        // employee_void_rate: one employee voided `threshold` items within the window, across
        // baskets (the sweethearting pattern: scan, then void for a friend).
        if let employee = record.employeeId {
            let rate = settings.rules.employeeVoidRate
            let window = Int64(rate.windowSeconds * 1000)
            var times = try state.get("voids:\(employee)", as: [Int64].self) ?? []
            times.append(now)
            times.removeAll { window > 0 && now - $0 > window }
            try state.put("voids:\(employee)", json: times)
            if rate.enabled, Double(times.count) >= rate.threshold {
                try raise(
                    "employee_void_rate", rate, subject: "employee:\(employee)", actual: Double(times.count), employee: employee,
                    terminal: record.terminalId, basket: event.basketId, dedupeWindowMs: max(window, 1_000), record: &record)
            }
        }
        try save(event.basketId, record)
    }

    mutating func payment(_ event: Payment, completed: Bool) throws {
        var record = try basket(event.basketId)
        if record.employeeId == nil { record.employeeId = event.employeeId?.description }
        if let amount = event.amount {
            // high_value_payment: at least `threshold` within the window after the employee's login.
            let high = settings.rules.highValuePayment
            if high.enabled, amount >= high.threshold, let employee = record.employeeId,
                let login = try state.get("session:\(employee)", as: SessionRecord.self)?.lastLoginMs,
                now - login <= Int64(high.windowSeconds * 1000)
            {
                try raise("high_value_payment", high, actual: amount, basketId: event.basketId, record: &record)
            }
            // anonymous_payment: at least `threshold` with no customer identified.
            let anonymous = settings.rules.anonymousPayment
            if anonymous.enabled, amount >= anonymous.threshold, !record.customerKnown {
                try raise("anonymous_payment", anonymous, actual: amount, basketId: event.basketId, record: &record)
            }
        }
        // rapid_checkout: paid within `threshold` seconds of the basket's start.
        let rapid = settings.rules.rapidCheckout
        if rapid.enabled, let started = record.startedMs, Double(now - started) / 1000 <= rapid.threshold {
            try raise("rapid_checkout", rapid, actual: Double(now - started) / 1000, basketId: event.basketId, record: &record)
        }
        // void_ratio: the voided value is at least `threshold` of what was scanned.
        let ratio = settings.rules.voidRatio
        if ratio.enabled, record.voids > 0, record.addedValue > 0, record.removedValue / record.addedValue >= ratio.threshold {
            try raise("void_ratio", ratio, actual: record.removedValue / record.addedValue, basketId: event.basketId, record: &record)
        }
        try save(event.basketId, record)
        if !record.assessed {
            record.assessed = true
            try save(event.basketId, record)
            try host.emit(type: "FRAUD_ASSESSED", key: event.basketId, try assessment(basketId: event.basketId, record: record))
        }
        if completed {
            // Paid: the final assessment stays for audit, the working state goes.
            try state.put("assessment:\(event.basketId)", json: try assessment(basketId: event.basketId, record: record))
            try state.delete("basket:\(event.basketId)")
        }
    }

    mutating func basketClosed(_ event: BasketRef) throws {
        guard let id = event.basketId else { return }
        let record = try basket(id)
        // The final assessment stays for audit; the working state goes.
        if state.get("assessment:\(id)") == nil { try state.put("assessment:\(id)", json: try assessment(basketId: id, record: record)) }
        try state.delete("basket:\(id)")
    }

    mutating func acknowledge(_ event: Acknowledgement) throws {
        guard var alert = try state.get("alert:\(event.alertId)", as: Alert.self) else {
            throw PluginError.reject("no fraud alert \(event.alertId)")
        }
        guard !alert.acknowledged else { return }
        alert.acknowledged = true
        alert.acknowledgedBy = event.employeeId?.description
        alert.acknowledgedAtMs = now
        try state.put("alert:\(event.alertId)", json: alert)
        host.count("alerts_acknowledged")
    }

    // MARK: - Alerts and assessments

    /// A basket rule fires at most once per basket.
    mutating func raise(_ rule: String, _ config: RuleSettings, actual: Double, basketId: String, record: inout BasketRecord) throws {
        guard !record.fired.contains(rule) else { return }
        record.fired.append(rule)
        let alert = try publish(rule, config, subject: "basket:\(basketId)", actual: actual, employee: record.employeeId, terminal: record.terminalId, basket: basketId)
        record.alertIds.append(alert.alertId)
    }

    /// An employee rule fires at most once per subject within its window.
    mutating func raise(
        _ rule: String, _ config: RuleSettings, subject: String, actual: Double, employee: String?, terminal: String?, basket: String?,
        dedupeWindowMs: Int64, record: inout BasketRecord
    ) throws {
        if let last = try state.get("fired:\(rule):\(subject)", as: Int64.self), now - last < dedupeWindowMs { return }
        try state.put("fired:\(rule):\(subject)", json: now)
        let alert = try publish(rule, config, subject: subject, actual: actual, employee: employee, terminal: terminal, basket: basket)
        if basket != nil {
            record.alertIds.append(alert.alertId)
            record.fired.append(rule)
        }
    }

    mutating func raise(
        _ rule: String, _ config: RuleSettings, subject: String, actual: Double, employee: String?, terminal: String?, basket: String?, dedupeWindowMs: Int64
    ) throws {
        var unused = BasketRecord()
        try raise(rule, config, subject: subject, actual: actual, employee: employee, terminal: terminal, basket: basket, dedupeWindowMs: dedupeWindowMs, record: &unused)
    }

    private func publish(
        _ rule: String, _ config: RuleSettings, subject: String, actual: Double, employee: String?, terminal: String?, basket: String?
    ) throws -> Alert {
        let alert = Alert(
            alertId: Self.alertId(rule: rule, subject: subject, time: now), ruleId: rule, severity: config.severity, employeeId: employee,
            terminalId: terminal, basketId: basket, threshold: config.threshold, actual: (actual * 1000).rounded() / 1000,
            windowSeconds: config.windowSeconds, raisedAtMs: now)
        try state.put("alert:\(alert.alertId)", json: alert)
        try host.emit(type: "FRAUD_ALERT", key: basket ?? terminal ?? causeKey, alert)
        host.count("alerts_\(rule)")
        return alert
    }

    /// Deterministic (a replay raises the same ids): FNV-1a of rule, subject and event time.
    static func alertId(rule: String, subject: String, time: Int64) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(rule)|\(subject)|\(time)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "fa_" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    func assessment(basketId: String, record: BasketRecord? = nil) throws -> Assessment {
        if record == nil, let stored = try state.get("assessment:\(basketId)", as: Assessment.self), state.get("basket:\(basketId)") == nil {
            return stored
        }
        let current = try record ?? basket(basketId)
        var reasons: [Assessment.Reason] = []
        for id in current.alertIds {
            guard let alert = try state.get("alert:\(id)", as: Alert.self) else { continue }
            reasons.append(Assessment.Reason(ruleId: alert.ruleId, severity: alert.severity, threshold: alert.threshold, actual: alert.actual))
        }
        let score = min(100, reasons.reduce(0) { $0 + settings.severityPoints.points($1.severity) })
        let decision = score >= settings.blockAt ? "block" : score >= settings.reviewAt ? "review" : "allow"
        return Assessment(basketId: basketId, score: score, decision: decision, reasons: reasons)
    }

    func alerts() throws -> [Alert] {
        state.scan(prefix: "alert:").compactMap { try? PluginJSON.decode(Alert.self, from: $0.value) }
    }
}
