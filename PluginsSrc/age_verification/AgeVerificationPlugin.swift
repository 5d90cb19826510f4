import AAMVA
import PluginSDK

/// Holds age-restricted items until the customer's age is verified (typed in, a date of birth,
/// or a scanned ID's barcode), refuses payment meanwhile, and records violations. Stores no
/// personal ID data: see docs/plugins/age_verification.md.
final class AgeVerificationPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "age_verification",
        version: "1.0.0",
        description: "Age checks for restricted items: hold, verify (age, date of birth, ID barcode), payment gate",
        subscriptions: [
            "BASKET_STARTED", "ITEM_ADDED", "ITEM_REMOVED", "AGE_VERIFIED", "AGE_VERIFICATION_CANCELLED", "PAYMENT_INITIATED", "PAYMENT_PROCESSED",
            "BASKET_CLOSED",
        ], emits: ["AGE_VERIFICATION_REQUIRED", "VERIFIED_ITEM_ADDED", "AGE_VERIFICATION_COMPLETED", "AGE_VERIFICATION_FAILED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "jurisdiction": {"type": "string", "minLength": 1},
               "categories": {"type": "array", "items": {"type": "object",
                  "properties": {"category": {"type": "string", "minLength": 1}, "minimum_age": {"type": "integer", "minimum": 0, "maximum": 99}},
                  "required": ["category", "minimum_age"], "additionalProperties": false}},
               "products": {"type": "array", "items": {"type": "object",
                  "properties": {"product_id": {"type": "string", "minLength": 1}, "category": {"type": "string", "minLength": 1}},
                  "required": ["product_id", "category"], "additionalProperties": false}},
               "accept_expired_ids": {"type": "boolean"},
               "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
               "store_timezones": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 64}}
             },
             "additionalProperties": false}
            """,
        defaultSettings: """
            {"jurisdiction": "US",
             "categories": [{"category": "alcohol", "minimum_age": 21}, {"category": "tobacco", "minimum_age": 21},
                            {"category": "lottery", "minimum_age": 18}, {"category": "energy_drink", "minimum_age": 16}],
             "products": [{"product_id": "BEER", "category": "alcohol"}, {"product_id": "WINE", "category": "alcohol"},
                          {"product_id": "CIGARETTES", "category": "tobacco"}, {"product_id": "ENERGY_DRINK", "category": "energy_drink"}],
             "accept_expired_ids": false,
             "timezone": "UTC",
             "store_timezones": {}}
            """)

    struct Settings: Decodable {
        struct Category: Decodable {
            var category: String
            var minimumAge: Int
        }
        struct Product: Decodable {
            var productId: String
            var category: String
        }
        var jurisdiction: String
        var categories: [Category]
        var products: [Product]
        var acceptExpiredIds: Bool
        var timezone: String
        var storeTimezones: [String: String]
    }

    struct ItemEvent: Decodable {
        var basketId: String
        var productId: String
        var quantity: Int?
        var minimumAge: Int?
        var ageRestricted: Bool?
        var category: String?
        var ageRestrictionCategory: String?
    }

    struct Verification: Decodable {
        var basketId: String
        var customerAge: Int?
        var dateOfBirth: String?
        var idScan: String?
        /// From a producer that read the ID itself (pos-api) and sends only derived facts:
        /// whether the ID was expired, or why it could not be read.
        var idExpired: Bool?
        var idProblem: String?
        var method: String?
        var verifierEmployeeId: PluginIdentifier?
        var storeId: PluginIdentifier?
    }

    struct BasketEvent: Decodable { var basketId: String }

    struct Held: Codable, Equatable {
        var productId: String
        var quantity: Int
        var minimumAge: Int
    }

    /// A basket's verification state. The verified age is kept (in whole years) only while the
    /// basket is open, so later restricted items need no second check.
    struct BasketState: Codable {
        var held: [Held] = []
        var verifiedAge: Int?
    }

    /// A compliance record: what went wrong, when, who verified; never the ID's contents.
    struct Violation: Codable {
        var basketId: String
        var reason: String
        var reasons: [String]?
        var atMs: Int64
        var minimumAge: Int?
        var verifier: String?
        var method: String?
    }

    private var settings: Settings
    private var ageByCategory: [String: Int] = [:]
    private var categoryByProduct: [String: String] = [:]
    private var calendar: StoreCalendar
    private var storeCalendars: [String: StoreCalendar] = [:]

    init(settings: PluginSettings, host: PluginHost) throws {
        let decoded = try settings.decode(Settings.self)
        (calendar, storeCalendars) = try Self.calendars(decoded)
        self.settings = decoded
        index()
    }

    func reconfigure(settings: PluginSettings, host: PluginHost) throws {
        let decoded = try settings.decode(Settings.self)
        (calendar, storeCalendars) = try Self.calendars(decoded)
        self.settings = decoded
        index()
    }

    /// The store's time zone and the per-store ones; an unknown name refuses the settings.
    private static func calendars(_ settings: Settings) throws -> (StoreCalendar, [String: StoreCalendar]) {
        do {
            let main = try StoreCalendar(identifier: settings.timezone)
            var stores: [String: StoreCalendar] = [:]
            for (store, zone) in settings.storeTimezones { stores[store] = try StoreCalendar(identifier: zone) }
            return (main, stores)
        } catch {
            throw PluginError.invalidSettings("\(error)")
        }
    }

    private func index() {
        ageByCategory = Dictionary(settings.categories.map { ($0.category.lowercased(), $0.minimumAge) }, uniquingKeysWith: max)
        categoryByProduct = Dictionary(settings.products.map { ($0.productId, $0.category.lowercased()) }, uniquingKeysWith: { $1 })
    }

    /// The minimum age for an item: its own fields first (the original's products carried them),
    /// then its category, then the product table.
    func minimumAge(_ item: ItemEvent) -> Int? {
        if let age = item.minimumAge, item.ageRestricted != false, age > 0 { return age }
        if let category = item.ageRestrictionCategory ?? item.category, let age = ageByCategory[category.lowercased()] { return age }
        if let category = categoryByProduct[item.productId] { return ageByCategory[category] }
        return nil
    }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        let now = event.timeMilliseconds
        switch event.type {
        case "BASKET_STARTED":
            try host.state.delete("basket:\(try event.decode(BasketEvent.self).basketId)")
        case "ITEM_ADDED":
            let item = try event.decode(ItemEvent.self)
            guard let required = minimumAge(item) else { return }
            var basket = try load(item.basketId, host)
            if let age = basket.verifiedAge, age >= required {
                host.count("restricted_items_passed")
                return
            }
            basket.held.append(Held(productId: item.productId, quantity: item.quantity ?? 1, minimumAge: required))
            try save(item.basketId, basket, host)
            host.count("restricted_items_held")
            struct Required: Encodable {
                var basketId: String
                var items: [Held]
                var minimumAge: Int
                var jurisdiction: String
            }
            try host.emit(
                type: "AGE_VERIFICATION_REQUIRED", key: item.basketId,
                Required(basketId: item.basketId, items: basket.held, minimumAge: basket.held.map(\.minimumAge).max() ?? required, jurisdiction: settings.jurisdiction))
        case "ITEM_REMOVED":
            let item = try event.decode(ItemEvent.self)
            var basket = try load(item.basketId, host)
            if let index = basket.held.firstIndex(where: { $0.productId == item.productId }) {
                basket.held.remove(at: index)
                try save(item.basketId, basket, host)
            }
        case "AGE_VERIFIED":
            try verify(try event.decode(Verification.self), now: now, host: host)
        case "AGE_VERIFICATION_CANCELLED":
            let basketId = try event.decode(BasketEvent.self).basketId
            var basket = try load(basketId, host)
            let required = basket.held.map(\.minimumAge).max()
            basket.held = []
            try save(basketId, basket, host)
            try fail(basketId, reason: "VERIFICATION_CANCELLED", detail: "the age check was cancelled; the restricted items were removed", minimumAge: required, now: now, host: host)
        case "PAYMENT_INITIATED":
            let basketId = try event.decode(BasketEvent.self).basketId
            let basket = try load(basketId, host)
            if !basket.held.isEmpty {
                try fail(
                    basketId, reason: "UNVERIFIED_RESTRICTED_ITEMS", detail: "payment started while restricted items wait for an age check",
                    minimumAge: basket.held.map(\.minimumAge).max(), now: now, host: host)
            }
        case "PAYMENT_PROCESSED", "BASKET_CLOSED":
            try host.state.delete("basket:\(try event.decode(BasketEvent.self).basketId)")
        default:
            return
        }
    }

    private func verify(_ check: Verification, now: Int64, host: PluginHost) throws {
        var basket = try load(check.basketId, host)
        let required = basket.held.map(\.minimumAge).max()
        let verifier = check.verifierEmployeeId?.description
        let zone = check.storeId.flatMap { storeCalendars[$0.description] } ?? calendar
        let today = zone.day(atMilliseconds: now)
        let verdict: AgeVerdict
        let method: String
        if let scan = check.idScan {
            method = "ID_SCAN"
            verdict = AgeCheck.scanned(scan, required: required ?? 0, today: today, acceptExpired: settings.acceptExpiredIds)
        } else if let text = check.dateOfBirth {
            method = check.method ?? "DATE_OF_BIRTH"
            verdict = AgeCheck.dateOfBirth(text, required: required ?? 0, today: today)
        } else if let problem = check.idProblem {
            method = check.method ?? "ID_SCAN"
            verdict = .failed([AgeFailure(reason: "MALFORMED_ID", detail: problem)])
        } else if let typed = check.customerAge {
            method = check.method ?? "MANUAL_CHECK"
            verdict = AgeCheck.typed(typed, required: required ?? 0, idExpired: check.idExpired == true && !settings.acceptExpiredIds)
        } else {
            throw PluginError.reject("AGE_VERIFIED for \(check.basketId) carries no customer_age, date_of_birth or id_scan")
        }
        let age: Int
        switch verdict {
        case .failed(let failures):
            return try fail(check.basketId, failures, minimumAge: required, verifier: verifier, method: method, now: now, host: host)
        case .passed(let passedAge):
            age = passedAge
        }
        let released = basket.held
        basket.held = []
        basket.verifiedAge = age
        try save(check.basketId, basket, host)
        struct Added: Encodable {
            var basketId: String
            var productId: String
            var quantity: Int
        }
        for item in released {
            try host.emit(type: "VERIFIED_ITEM_ADDED", key: check.basketId, Added(basketId: check.basketId, productId: item.productId, quantity: item.quantity))
        }
        struct Completed: Encodable {
            var basketId: String
            var minimumAge: Int?
            var method: String
            var verifierEmployeeId: String?
            var releasedItems: Int
        }
        try host.emit(
            type: "AGE_VERIFICATION_COMPLETED", key: check.basketId,
            Completed(basketId: check.basketId, minimumAge: required, method: method, verifierEmployeeId: verifier, releasedItems: released.count))
        host.count("verifications_passed")
    }

    /// A failure with no verification behind it (cancelled, paid while held): method NONE.
    private func fail(_ basketId: String, reason: String, detail: String, minimumAge: Int?, now: Int64, host: PluginHost) throws {
        try fail(basketId, [AgeFailure(reason: reason, detail: detail)], minimumAge: minimumAge, verifier: nil, method: "NONE", now: now, host: host)
    }

    /// Records a violation (reasons, never the ID's dates) and tells the till every reason with
    /// a sentence the cashier can act on, plus the date the customer comes of age or the ID's
    /// expiry where that applies.
    private func fail(
        _ basketId: String, _ failures: [AgeFailure], minimumAge: Int?, verifier: String?, method: String, now: Int64, host: PluginHost
    ) throws {
        let reasons = failures.map(\.reason)
        let reason = reasons.first ?? "UNKNOWN"
        let violation = Violation(basketId: basketId, reason: reason, reasons: reasons, atMs: now, minimumAge: minimumAge, verifier: verifier, method: method)
        try host.state.put("violation:\(basketId):\(now):\(reason)", json: violation)
        struct Failed: Encodable {
            var basketId: String
            var reason: String
            var reasons: [String]
            var detail: String
            var minimumAge: Int?
            var method: String
            var reachesMinimumAgeOn: String?
            var expiredOn: String?
        }
        try host.emit(
            type: "AGE_VERIFICATION_FAILED", key: basketId,
            Failed(
                basketId: basketId, reason: reason, reasons: reasons, detail: failures.map(\.detail).joined(separator: "; "),
                minimumAge: minimumAge, method: method,
                reachesMinimumAgeOn: failures.compactMap(\.reachesMinimumAgeOn).first?.description,
                expiredOn: failures.compactMap(\.expiredOn).first?.description))
        for reason in reasons { host.count("violations_\(reason.lowercased())") }
    }

    private func load(_ basketId: String, _ host: PluginHost) throws -> BasketState {
        try host.state.get("basket:\(basketId)", as: BasketState.self) ?? BasketState()
    }

    private func save(_ basketId: String, _ state: BasketState, _ host: PluginHost) throws {
        try host.state.put("basket:\(basketId)", json: state)
    }

    /// `payment_gate {"basket_id"}`: may the basket be paid? `violations {"basket_id"?}`.
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        switch name {
        case "payment_gate":
            let basketId = try PluginJSON.decode(BasketEvent.self, from: request).basketId
            let basket = try load(basketId, host)
            struct Gate: Encodable {
                var basketId: String
                var allowed: Bool
                var reason: String?
                var heldItems: [Held]
                var minimumAge: Int?
            }
            return try PluginJSON.encode(
                Gate(
                    basketId: basketId, allowed: basket.held.isEmpty, reason: basket.held.isEmpty ? nil : "UNVERIFIED_RESTRICTED_ITEMS",
                    heldItems: basket.held, minimumAge: basket.held.map(\.minimumAge).max()))
        case "violations":
            struct Request: Decodable { var basketId: String? }
            let filter = try PluginJSON.decode(Request.self, from: request.isEmpty ? Array("{}".utf8) : request)
            let prefix = filter.basketId.map { "violation:\($0):" } ?? "violation:"
            let list = host.state.scan(prefix: prefix).compactMap { try? PluginJSON.decode(Violation.self, from: $0.value) }
            return try PluginJSON.encode(list.sorted { $0.atMs < $1.atMs })
        default:
            throw PluginError.unknownQuery(name)
        }
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(AgeVerificationPlugin.self, hostMajor: major, hostMinor: minor)
}
