import Foundation
import PluginSDK

/// Recommends products for a basket: the configured rules (as the original), plus co-purchase
/// statistics learned from paid baskets (support, confidence, lift; decayed over event time),
/// adjusted by cashiers' accept/reject feedback. Docs: docs/plugins/purchase_recommender.md.
final class RecommenderPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "purchase_recommender",
        version: "1.0.0",
        description: "Rule-based and learned co-purchase recommendations per basket",
        subscriptions: [
            "BASKET_STARTED", "ITEM_ADDED", "ITEM_REMOVED", "AGE_VERIFICATION_COMPLETED", "RECOMMENDATION_ACCEPTED", "RECOMMENDATION_REJECTED",
            "PAYMENT_PROCESSED", "BASKET_CLOSED",
        ], emits: ["RECOMMENDATION_SUGGESTED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "rules": {"type": "array", "items": {"type": "object",
                  "properties": {"source": {"type": "string", "minLength": 1}, "recommended": {"type": "string", "minLength": 1},
                                 "priority": {"type": "integer", "minimum": 0}, "active": {"type": "boolean"}},
                  "required": ["source", "recommended"], "additionalProperties": false}},
               "top_k": {"type": "integer", "minimum": 1, "maximum": 20},
               "learning": {"type": "boolean"},
               "min_support": {"type": "number", "minimum": 0},
               "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
               "half_life_days": {"type": "number", "exclusiveMinimum": 0},
               "restricted_products": {"type": "array", "items": {"type": "string"}}
             },
             "additionalProperties": false}
            """,
        defaultSettings: """
            {"rules": [
               {"source": "BURGER", "recommended": "FRIES", "priority": 10, "active": true},
               {"source": "BURGER", "recommended": "COKE", "priority": 5, "active": true},
               {"source": "COFFEE", "recommended": "DONUT", "priority": 10, "active": true},
               {"source": "COFFEE", "recommended": "MUFFIN", "priority": 5, "active": true},
               {"source": "LAPTOP", "recommended": "MOUSE", "priority": 10, "active": true},
               {"source": "LAPTOP", "recommended": "LAPTOP_BAG", "priority": 5, "active": true},
               {"source": "PHONE", "recommended": "PHONE_CASE", "priority": 10, "active": true},
               {"source": "PHONE", "recommended": "SCREEN_PROTECTOR", "priority": 5, "active": true},
               {"source": "PIZZA", "recommended": "GARLIC_BREAD", "priority": 10, "active": true},
               {"source": "PIZZA", "recommended": "SODA", "priority": 5, "active": true}],
             "top_k": 3, "learning": true, "min_support": 3, "min_confidence": 0.3, "half_life_days": 30,
             "restricted_products": ["BEER", "WINE", "CIGARETTES", "ENERGY_DRINK"]}
            """)

    struct Rule: Decodable {
        var source: String
        var recommended: String
        var priority: Int?
        var active: Bool?
    }

    struct Settings: Decodable {
        var rules: [Rule]
        var topK: Int
        var learning: Bool
        var minSupport: Double
        var minConfidence: Double
        var halfLifeDays: Double
        var restrictedProducts: [String]
    }

    struct ItemEvent: Decodable {
        var basketId: String
        var productId: String
    }

    struct BasketEvent: Decodable { var basketId: String }

    struct Basket: Codable {
        var items: [String] = []
        var verified = false
        var rejected: [String] = []
        var accepted: [String] = []
        var suggested: [Recommendation] = []
    }

    struct Recommendation: Codable, Equatable {
        var productId: String
        var sourceProduct: String
        /// "rule" or "learned".
        var reason: String
        var score: Double
        var confidence: Double?
        var lift: Double?
    }

    /// A count that halves every half-life of event time.
    struct Decayed: Codable {
        var value: Double
        var atMs: Int64
        func at(_ now: Int64, halfLifeMs: Double) -> Double { value * pow(0.5, Double(max(0, now - atMs)) / halfLifeMs) }
    }

    private var settings: Settings
    /// Learned pairs per source product, read from state at most once a minute of event time
    /// (the statistics move slowly; a scan per scanned item cost more than the rest together).
    /// Dropped whenever this instance learns, so its own sales show at once.
    private var pairMemo: [String: (atMs: Int64, pairs: [(target: String, support: Decayed)])] = [:]
    static let memoMilliseconds: Int64 = 60_000
    /// Decayed counters read from state, with the same freshness; this instance's own updates
    /// go through it, so its own sales and feedback show at once.
    private var counterMemo: [String: (readAtMs: Int64, counter: Decayed?)] = [:]

    init(settings: PluginSettings, host: PluginHost) throws { self.settings = try settings.decode(Settings.self) }
    func reconfigure(settings: PluginSettings, host: PluginHost) throws {
        self.settings = try settings.decode(Settings.self)
        pairMemo = [:]
        counterMemo = [:]
    }

    private func pairs(of source: String, now: Int64, host: PluginHost) -> [(target: String, support: Decayed)] {
        if let memo = pairMemo[source], now - memo.atMs >= 0, now - memo.atMs < Self.memoMilliseconds { return memo.pairs }
        let prefix = "pair:\(source)|"
        let pairs = host.state.scan(prefix: prefix).compactMap { entry -> (target: String, support: Decayed)? in
            guard let support = try? PluginJSON.decode(Decayed.self, from: entry.value) else { return nil }
            return (String(entry.key.dropFirst(prefix.count)), support)
        }
        pairMemo[source] = (now, pairs)
        return pairs
    }

    private var halfLifeMs: Double { settings.halfLifeDays * 86_400_000 }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        let now = event.timeMilliseconds
        switch event.type {
        case "BASKET_STARTED":
            try host.state.put("basket:\(try event.decode(BasketEvent.self).basketId)", json: Basket())
        case "ITEM_ADDED":
            let item = try event.decode(ItemEvent.self)
            var basket = try load(item.basketId, host)
            basket.items.append(item.productId)
            try host.state.put("known:\(item.productId)", [1])
            try suggest(item.basketId, &basket, now: now, host: host)
        case "ITEM_REMOVED":
            let item = try event.decode(ItemEvent.self)
            guard var basket = try existing(item.basketId, host) else { return }
            if let index = basket.items.firstIndex(of: item.productId) { basket.items.remove(at: index) }
            try suggest(item.basketId, &basket, now: now, host: host)
        case "AGE_VERIFICATION_COMPLETED":
            let id = try event.decode(BasketEvent.self).basketId
            // Emitted by age_verification, so it can arrive after the basket was paid or closed:
            // it updates an open basket and never re-creates a closed one's row.
            guard var basket = try existing(id, host) else { return }
            basket.verified = true
            try host.state.put("basket:\(id)", json: basket)
        case "RECOMMENDATION_ACCEPTED", "RECOMMENDATION_REJECTED":
            let feedback = try event.decode(ItemEvent.self)
            guard var basket = try existing(feedback.basketId, host) else { return }
            let accepted = event.isType("RECOMMENDATION_ACCEPTED")
            if accepted { basket.accepted.append(feedback.productId) } else { basket.rejected.append(feedback.productId) }
            // Feedback per (source, recommendation): rejections lower its score from now on.
            if let source = basket.suggested.first(where: { $0.productId == feedback.productId })?.sourceProduct {
                try bump("\(accepted ? "accepted" : "rejected"):\(source)|\(feedback.productId)", now: now, host: host)
                try bump("shown:\(source)|\(feedback.productId)", now: now, host: host)
            }
            host.count(accepted ? "recommendations_accepted" : "recommendations_rejected")
            try suggest(feedback.basketId, &basket, now: now, host: host)
        case "PAYMENT_PROCESSED":
            let id = try event.decode(BasketEvent.self).basketId
            let basket = try load(id, host)
            if settings.learning { try learn(Array(Set(basket.items)).sorted(), now: now, host: host) }
            try host.state.delete("basket:\(id)")
        case "BASKET_CLOSED":
            try host.state.delete("basket:\(try event.decode(BasketEvent.self).basketId)")
        default:
            return
        }
    }

    private func load(_ id: String, _ host: PluginHost) throws -> Basket { try existing(id, host) ?? Basket() }

    /// An open basket's row. Only BASKET_STARTED and ITEM_ADDED open one: events that follow up
    /// on a basket (verification, feedback, removals) find nothing once it is paid or closed,
    /// so no row is left behind whatever the arrival order.
    private func existing(_ id: String, _ host: PluginHost) throws -> Basket? { try host.state.get("basket:\(id)", as: Basket.self) }

    private func counter(_ key: String, now: Int64, host: PluginHost) throws -> Decayed? {
        if let memo = counterMemo[key], now - memo.readAtMs >= 0, now - memo.readAtMs < Self.memoMilliseconds { return memo.counter }
        let stored = try host.state.get(key, as: Decayed.self)
        if counterMemo.count > 100_000 { counterMemo.removeAll() }
        counterMemo[key] = (now, stored)
        return stored
    }

    private func decayed(_ key: String, now: Int64, host: PluginHost) throws -> Double {
        try counter(key, now: now, host: host)?.at(now, halfLifeMs: halfLifeMs) ?? 0
    }

    private func bump(_ key: String, now: Int64, host: PluginHost) throws {
        let updated = Decayed(value: try decayed(key, now: now, host: host) + 1, atMs: now)
        try host.state.put(key, json: updated)
        counterMemo[key] = (now, updated)
    }

    /// Counts a paid basket: baskets, each product, each ordered pair.
    private func learn(_ products: [String], now: Int64, host: PluginHost) throws {
        guard !products.isEmpty else { return }
        for product in products { pairMemo[product] = nil }
        try bump("baskets", now: now, host: host)
        for product in products { try bump("item:\(product)", now: now, host: host) }
        for a in products {
            for b in products where a != b { try bump("pair:\(a)|\(b)", now: now, host: host) }
        }
    }

    func candidates(for basket: Basket, now: Int64, host: PluginHost) throws -> [Recommendation] {
        var found: [String: Recommendation] = [:]
        let inBasket = Set(basket.items)
        let restricted = Set(settings.restrictedProducts)
        func allowed(_ product: String) -> Bool {
            !inBasket.contains(product) && !basket.rejected.contains(product) && !basket.accepted.contains(product)
                && (basket.verified || !restricted.contains(product))
        }
        func keep(_ candidate: Recommendation) throws {
            guard allowed(candidate.productId) else { return }
            var adjusted = candidate
            // Feedback: scale by the share of times it was not rejected (Laplace-smoothed).
            let shown = try decayed("shown:\(candidate.sourceProduct)|\(candidate.productId)", now: now, host: host)
            let rejected = try decayed("rejected:\(candidate.sourceProduct)|\(candidate.productId)", now: now, host: host)
            adjusted.score = (adjusted.score * (shown - rejected + 1) / (shown + 1) * 1000).rounded() / 1000
            if let existing = found[candidate.productId], existing.score >= adjusted.score { return }
            found[candidate.productId] = adjusted
        }
        let ruleTargets = Set(settings.rules.map(\.recommended))
        for source in inBasket.sorted() {
            for rule in settings.rules where rule.source == source && rule.active != false {
                // Rules outrank learned pairs: a score above any confidence-based one.
                try keep(Recommendation(productId: rule.recommended, sourceProduct: source, reason: "rule", score: 10 + Double(rule.priority ?? 0), confidence: nil, lift: nil))
            }
            guard settings.learning else { continue }
            let total = try decayed("baskets", now: now, host: host)
            let sourceCount = try decayed("item:\(source)", now: now, host: host)
            guard total > 0, sourceCount > 0 else { continue }
            for (target, decayedSupport) in pairs(of: source, now: now, host: host) {
                // Unknown products (never sold, not in a rule) are never recommended.
                guard host.state.get("known:\(target)") != nil || ruleTargets.contains(target) else { continue }
                let support = decayedSupport.at(now, halfLifeMs: halfLifeMs)
                let confidence = support / sourceCount
                let targetShare = try decayed("item:\(target)", now: now, host: host) / total
                guard support >= settings.minSupport, confidence >= settings.minConfidence, targetShare > 0 else { continue }
                let lift = confidence / targetShare
                guard lift > 1 else { continue }  // bought together no more than by chance
                try keep(Recommendation(
                    productId: target, sourceProduct: source, reason: "learned", score: confidence * min(lift, 5) / 5,
                    confidence: (confidence * 1000).rounded() / 1000, lift: (lift * 1000).rounded() / 1000))
            }
        }
        return found.values.sorted { ($0.score, $1.productId) > ($1.score, $0.productId) }.prefix(settings.topK).map { $0 }
    }

    private func suggest(_ basketId: String, _ basket: inout Basket, now: Int64, host: PluginHost) throws {
        let list = try candidates(for: basket, now: now, host: host)
        let changed = list.map(\.productId) != basket.suggested.map(\.productId)
        basket.suggested = list
        try host.state.put("basket:\(basketId)", json: basket)
        guard changed, !list.isEmpty else { return }
        struct Suggested: Encodable {
            var basketId: String
            var recommendations: [Recommendation]
        }
        try host.emit(type: "RECOMMENDATION_SUGGESTED", key: basketId, Suggested(basketId: basketId, recommendations: list))
        host.count("suggestions")
    }

    /// `recommendations {"basket_id"}`: the basket's current list.
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        guard name == "recommendations" else { throw PluginError.unknownQuery(name) }
        let id = try PluginJSON.decode(BasketEvent.self, from: request).basketId
        return try PluginJSON.encode(try load(id, host).suggested)
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(RecommenderPlugin.self, hostMajor: major, hostMinor: minor)
}
