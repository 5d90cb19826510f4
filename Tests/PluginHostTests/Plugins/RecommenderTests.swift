import Foundation
import Testing

@testable import PluginHost

/// purchase_recommender: the original's rules, learning from paid baskets, and every exclusion.
@Suite struct RecommenderTests {
    func add(_ plugin: PluginHarness, _ basket: String, _ product: String, at second: Double) {
        plugin.send("ITEM_ADDED", at: second, ["basket_id": .string(basket), "product_id": .string(product), "quantity": .number(1), "price": .number(2)])
    }

    func current(_ plugin: PluginHarness, _ basket: String) throws -> [String] {
        (try plugin.query("recommendations", #"{"basket_id": "\#(basket)"}"#).arrayValue ?? []).compactMap { $0["product_id"]?.stringValue }
    }

    /// Pays `count` baskets each holding `products`.
    func sell(_ plugin: PluginHarness, _ products: [String], times count: Int, from second: Double) {
        for index in 0..<count {
            let basket = "hist-\(Int(second))-\(index)"
            plugin.send("BASKET_STARTED", at: second + Double(index) * 10, ["basket_id": .string(basket), "terminal_id": .string("T1")])
            for product in products { add(plugin, basket, product, at: second + Double(index) * 10 + 1) }
            plugin.send("PAYMENT_PROCESSED", at: second + Double(index) * 10 + 2, ["basket_id": .string(basket), "amount": .number(4)])
        }
    }

    @Test func theOriginalsRulesRecommendByPriorityAndNeverWhatIsInTheBasket() throws {
        let plugin = try PluginHarness("purchase_recommender")
        add(plugin, "b1", "BURGER", at: 0)
        let suggested = try #require(plugin.emitted("RECOMMENDATION_SUGGESTED").last)
        #expect(suggested["recommendations"]?.arrayValue?.compactMap { $0["product_id"]?.stringValue } == ["FRIES", "COKE"])
        #expect(suggested["recommendations"]?.arrayValue?.first?["reason"] == .string("rule"))
        add(plugin, "b1", "FRIES", at: 1)
        #expect(try current(plugin, "b1") == ["COKE"])
        add(plugin, "b1", "UNKNOWN_THING", at: 2)  // no rule, nothing learned: nothing new
        #expect(try current(plugin, "b1") == ["COKE"])
        // Disabling a rule at runtime removes it.
        try plugin.reconfigure(.object(["rules": .array([.object(["source": .string("BURGER"), "recommended": .string("COKE"), "active": .bool(false)])])]))
        add(plugin, "b2", "BURGER", at: 3)
        #expect(try current(plugin, "b2").isEmpty)
    }

    @Test func coPurchasesAreLearnedFromPaidBasketsAndDecay() throws {
        let plugin = try PluginHarness("purchase_recommender", settings: .object(["rules": .array([])]))
        sell(plugin, ["TEA", "LEMON"], times: 4, from: 0)
        sell(plugin, ["TEA"], times: 2, from: 100)
        sell(plugin, ["BREAD"], times: 6, from: 200)
        add(plugin, "b1", "TEA", at: 300)
        let list = try plugin.query("recommendations", #"{"basket_id": "b1"}"#).arrayValue ?? []
        #expect(list.compactMap { $0["product_id"]?.stringValue } == ["LEMON"])
        #expect(list.first?["reason"] == .string("learned"))
        // support 4, confidence 4/6, lift (4/6) / (4/12) = 2
        #expect(list.first?["confidence"] == .number(0.667) && list.first?["lift"] == .number(2))
        // An unpaid basket teaches nothing; a year later the statistics have decayed away.
        add(plugin, "b2", "TEA", at: 300 + 365 * 86_400)
        #expect(try current(plugin, "b2").isEmpty)
    }

    @Test func restrictedProductsWaitForVerificationAndRejectionsAreRemembered() throws {
        let plugin = try PluginHarness("purchase_recommender", settings: .object(["rules": .array([
            .object(["source": .string("CHIPS"), "recommended": .string("BEER"), "priority": .number(9)]),
            .object(["source": .string("CHIPS"), "recommended": .string("SALSA"), "priority": .number(1)]),
        ])]))
        add(plugin, "b1", "CHIPS", at: 0)
        #expect(try current(plugin, "b1") == ["SALSA"])  // BEER is restricted and b1 is not verified
        plugin.send("AGE_VERIFICATION_COMPLETED", at: 1, ["basket_id": .string("b1")])
        add(plugin, "b1", "NAPKINS", at: 2)
        #expect(try current(plugin, "b1") == ["BEER", "SALSA"])
        plugin.send("RECOMMENDATION_REJECTED", at: 3, ["basket_id": .string("b1"), "product_id": .string("BEER")])
        #expect(try current(plugin, "b1") == ["SALSA"])  // not offered again in this basket
        plugin.send("RECOMMENDATION_ACCEPTED", at: 4, ["basket_id": .string("b1"), "product_id": .string("SALSA")])
        #expect(try current(plugin, "b1").isEmpty)
        // The rejection halves BEER's score for later baskets (19 -> 9.5): SALSA (11) now leads.
        add(plugin, "b2", "CHIPS", at: 10)
        plugin.send("AGE_VERIFICATION_COMPLETED", at: 11, ["basket_id": .string("b2")])
        add(plugin, "b2", "NAPKINS", at: 12)
        let scores = (try plugin.query("recommendations", #"{"basket_id": "b2"}"#).arrayValue ?? []).compactMap { $0["score"]?.numberValue }
        #expect(scores == [11, 9.5])
    }
}
