import Foundation
import PluginSDK

/// Finds the customer behind a basket's identifier (phone, email, loyalty card): local cache
/// with a TTL in event time, else the external directory over HTTP with a timeout and retries,
/// falling back to a stale cache entry when the directory fails. Publishes the profile, audits
/// every lookup, and builds each customer's purchase history from paid baskets.
/// Docs: docs/plugins/customer_lookup.md.
final class CustomerLookupPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "customer_lookup",
        version: "1.0.0",
        description: "Customer profiles from a directory (cached), lookup audit, purchase history",
        subscriptions: ["BASKET_STARTED", "CUSTOMER_IDENTIFIED", "ITEM_ADDED", "ITEM_REMOVED", "PAYMENT_PROCESSED", "BASKET_CLOSED"], emits: ["CUSTOMER_DATA_FETCHED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "api_endpoint": {"type": "string", "pattern": "^http://"},
               "timeout_ms": {"type": "integer", "minimum": 10, "maximum": 30000},
               "retry_attempts": {"type": "integer", "minimum": 0, "maximum": 10},
               "retry_backoff_ms": {"type": "integer", "minimum": 0, "maximum": 10000},
               "cache_ttl_seconds": {"type": "integer", "minimum": 0},
               "fallback_to_cache_on_error": {"type": "boolean"},
               "circuit_breaker_seconds": {"type": "integer", "minimum": 0, "maximum": 3600}
             },
             "additionalProperties": false}
            """,
        defaultSettings: """
            {"api_endpoint": "http://127.0.0.1:8099/customers", "timeout_ms": 1000, "retry_attempts": 2, "retry_backoff_ms": 100,
             "cache_ttl_seconds": 3600, "fallback_to_cache_on_error": true, "circuit_breaker_seconds": 5}
            """)

    struct Settings: Decodable {
        var apiEndpoint: String
        var timeoutMs: Int
        var retryAttempts: Int
        var retryBackoffMs: Int
        var cacheTtlSeconds: Int
        var fallbackToCacheOnError: Bool
        var circuitBreakerSeconds: Int
    }

    struct Identified: Decodable {
        var basketId: String
        var customerIdentifier: String?
    }

    struct ItemEvent: Decodable {
        var basketId: String
        var productId: String
        var quantity: Int?
        var price: Double?
    }

    struct Payment: Decodable {
        var basketId: String
        var amount: Double?
    }

    struct Cached: Codable {
        var profile: JSONDocument
        var fetchedMs: Int64
    }

    struct Line: Codable {
        var productId: String
        var quantity: Int
        var price: Double?
    }

    struct BasketRecord: Codable {
        var customerId: String?
        var lines: [Line] = []
    }

    struct Purchase: Codable {
        var basketId: String
        var atMs: Int64
        var amount: Double?
        var lines: [Line]
    }

    /// One lookup as audited: no raw identifier, only its kind and the customer found.
    struct Audit: Codable {
        var basketId: String
        var identifierKind: String
        var status: String
        var source: String
        var attempts: Int
        var customerId: String?
        var atMs: Int64
        var error: String?
    }

    private var settings: Settings
    private var client: DirectoryClient
    /// After a lookup found the directory down, it is not asked again until this monotonic time:
    /// a dead directory must not slow every till by its timeouts and retries.
    private var directoryDownUntil = 0

    init(settings: PluginSettings, host: PluginHost) throws {
        let decoded = try settings.decode(Settings.self)
        self.settings = decoded
        client = try Self.client(decoded)
    }

    func reconfigure(settings: PluginSettings, host: PluginHost) throws {
        let decoded = try settings.decode(Settings.self)
        client = try Self.client(decoded)
        self.settings = decoded
    }

    static func client(_ settings: Settings) throws -> DirectoryClient {
        do { return try DirectoryClient(endpoint: settings.apiEndpoint) } catch { throw PluginError.invalidSettings("api_endpoint: \(error)") }
    }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        switch event.type {
        case "BASKET_STARTED", "CUSTOMER_IDENTIFIED":
            let identified = try event.decode(Identified.self)
            if event.isType("BASKET_STARTED") { try host.state.put("basket:\(identified.basketId)", json: BasketRecord()) }
            guard let raw = identified.customerIdentifier, !raw.isEmpty else { return }
            try lookup(raw, basketId: identified.basketId, now: event.timeMilliseconds, host: host)
        case "ITEM_ADDED", "ITEM_REMOVED":
            let item = try event.decode(ItemEvent.self)
            var basket = try host.state.get("basket:\(item.basketId)", as: BasketRecord.self) ?? BasketRecord()
            if event.isType("ITEM_ADDED") {
                basket.lines.append(Line(productId: item.productId, quantity: item.quantity ?? 1, price: item.price))
            } else if let index = basket.lines.lastIndex(where: { $0.productId == item.productId }) {
                basket.lines.remove(at: index)
            }
            try host.state.put("basket:\(item.basketId)", json: basket)
        case "PAYMENT_PROCESSED":
            let payment = try event.decode(Payment.self)
            if let basket = try host.state.get("basket:\(payment.basketId)", as: BasketRecord.self), let customer = basket.customerId {
                let key = "purchase:\(customer):\(String(event.timeMilliseconds).leftPadded(15)):\(payment.basketId)"
                try host.state.put(key, json: Purchase(basketId: payment.basketId, atMs: event.timeMilliseconds, amount: payment.amount, lines: basket.lines))
                host.count("purchases_recorded")
            }
            try host.state.delete("basket:\(payment.basketId)")
        case "BASKET_CLOSED":
            try host.state.delete("basket:\(try event.decode(Identified.self).basketId)")
        default:
            return
        }
    }

    private func lookup(_ raw: String, basketId: String, now: Int64, host: PluginHost) throws {
        guard let identifier = Identifier.normalise(raw) else {
            try audit(Audit(basketId: basketId, identifierKind: "invalid", status: "INVALID", source: "none", attempts: 0, atMs: now), host)
            throw PluginError.reject("'\(raw)' is neither a phone number, an email address nor a loyalty card")
        }
        let cacheKey = "customer:\(identifier.normalised)"
        let cached = try host.state.get(cacheKey, as: Cached.self)
        let started = DirectoryClient.now()
        var status = "SUCCESS", source = "directory", attempts = 0
        var profile: JSONDocument?
        var failure: String?
        if let cached, now - cached.fetchedMs <= Int64(settings.cacheTtlSeconds) * 1000 {
            profile = cached.profile
            source = "cache"
            status = "CACHE_HIT"
        } else if DirectoryClient.now() < directoryDownUntil {
            status = "SKIPPED"
            failure = "the directory failed recently; not asked for \(settings.circuitBreakerSeconds) s"
            if settings.fallbackToCacheOnError, let cached {
                profile = cached.profile
                source = "stale_cache"
            }
        } else {
            while attempts <= settings.retryAttempts {
                if attempts > 0 { usleep(UInt32(settings.retryBackoffMs << (attempts - 1)) * 1000) }
                attempts += 1
                do {
                    let response = try client.get(identifier.normalised, timeoutMilliseconds: settings.timeoutMs)
                    if response.status == 200, let document = try? JSONDecoder().decode(JSONDocument.self, from: Data(response.body)) {
                        profile = document
                        status = "SUCCESS"
                        try host.state.put(cacheKey, json: Cached(profile: document, fetchedMs: now))
                        break
                    }
                    if response.status == 404 {
                        status = "NOT_FOUND"
                        break  // an answer, not a failure: no retry, no stale data
                    }
                    status = "FAILED"
                    failure = "HTTP \(response.status)"
                } catch DirectoryClient.Failure.timeout {
                    status = "TIMEOUT"
                    failure = "no answer within \(settings.timeoutMs) ms"
                } catch {
                    status = "FAILED"
                    failure = "\(error)"
                }
            }
            if profile == nil, status == "FAILED" || status == "TIMEOUT" {
                directoryDownUntil = DirectoryClient.now() + settings.circuitBreakerSeconds * 1000
            }
            if profile == nil, status != "NOT_FOUND", settings.fallbackToCacheOnError, let cached {
                profile = cached.profile
                source = "stale_cache"
            }
        }
        let customerId = profile?.string("customer_id")
        // The audit row is state, so a replay must write it again byte for byte: how long the
        // directory took (wall-clock) goes to the log instead.
        host.log("directory lookup for \(basketId): \(status) after \(attempts) attempts in \(DirectoryClient.now() - started) ms", level: .debug)
        try audit(
            Audit(
                basketId: basketId, identifierKind: identifier.kind, status: status, source: profile == nil ? "none" : source, attempts: attempts,
                customerId: customerId, atMs: now, error: failure), host)
        guard let profile else { return }
        var basket = try host.state.get("basket:\(basketId)", as: BasketRecord.self) ?? BasketRecord()
        basket.customerId = customerId
        try host.state.put("basket:\(basketId)", json: basket)
        struct Fetched: Encodable {
            var basketId: String
            var customer: JSONDocument
            var source: String
        }
        try host.emit(type: "CUSTOMER_DATA_FETCHED", key: basketId, Fetched(basketId: basketId, customer: profile, source: source))
    }

    private func audit(_ entry: Audit, _ host: PluginHost) throws {
        try host.state.put("audit:\(String(entry.atMs).leftPadded(15)):\(entry.basketId)", json: entry)
        host.count("lookups_\(entry.status.lowercased())")
    }

    /// `customer_purchases {"customer_id"}` (serves `customerPurchases`); `lookups {"basket_id"?}`.
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        switch name {
        case "customer_purchases":
            struct Request: Decodable { var customerId: String }
            let customer = try PluginJSON.decode(Request.self, from: request).customerId
            let purchases = host.state.scan(prefix: "purchase:\(customer):").compactMap { try? PluginJSON.decode(Purchase.self, from: $0.value) }
            return try PluginJSON.encode(purchases)
        case "lookups":
            struct Request: Decodable { var basketId: String? }
            let filter = try PluginJSON.decode(Request.self, from: request.isEmpty ? Array("{}".utf8) : request)
            let entries = host.state.scan(prefix: "audit:").compactMap { try? PluginJSON.decode(Audit.self, from: $0.value) }
            return try PluginJSON.encode(entries.filter { filter.basketId == nil || $0.basketId == filter.basketId })
        default:
            throw PluginError.unknownQuery(name)
        }
    }
}

/// A customer identifier in its canonical form: E.164-like phone numbers (digits, leading +),
/// lower-case email addresses, upper-case loyalty cards (CARD_123456).
struct Identifier {
    var kind: String
    var normalised: String

    static func normalise(_ raw: String) -> Identifier? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text.contains("@") {
            let parts = text.lowercased().split(separator: "@")
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !text.contains(" ") else { return nil }
            return Identifier(kind: "email", normalised: text.lowercased())
        }
        let upper = text.uppercased()
        if upper.hasPrefix("CARD") {
            let digits = upper.dropFirst(4).filter { $0.isNumber }
            guard digits.count >= 4 else { return nil }
            return Identifier(kind: "loyalty_card", normalised: "CARD_" + digits)
        }
        let allowed = Set("+0123456789 -().")
        guard text.allSatisfy({ allowed.contains($0) }) else { return nil }
        let digits = text.filter { $0.isNumber }
        guard (7...15).contains(digits.count) else { return nil }
        return Identifier(kind: "phone", normalised: "+" + digits)
    }
}

/// Any JSON document, kept as is (the directory's profile), with a string accessor.
struct JSONDocument: Codable {
    let value: Any & Sendable

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { value = NSNull() }
        else if let bool = try? container.decode(Bool.self) { value = bool }
        else if let number = try? container.decode(Double.self) { value = number }
        else if let text = try? container.decode(String.self) { value = text }
        else if let array = try? container.decode([JSONDocument].self) { value = array }
        else { value = try container.decode([String: JSONDocument].self) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case let bool as Bool: try container.encode(bool)
        case let number as Double: try container.encode(number)
        case let text as String: try container.encode(text)
        case let array as [JSONDocument]: try container.encode(array)
        case let object as [String: JSONDocument]: try container.encode(object)
        default: try container.encodeNil()
        }
    }

    func string(_ key: String) -> String? {
        ((value as? [String: JSONDocument])?[key]?.value) as? String
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(CustomerLookupPlugin.self, hostMajor: major, hostMinor: minor)
}
