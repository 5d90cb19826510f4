import Foundation
import POSPlatform

/// The subscriptions (over graphql-transport-ws, docs/live.md): each checks who may see what,
/// then opens a subscriber on the hub. `after` resumes from a pushed message's `cursor` (any
/// instance) or its `id` (the instance that pushed it).
extension Resolver {
    struct BasketLiveArguments: Codable, Sendable {
        let basketId: String
        let after: String?
    }

    struct TerminalLiveArguments: Codable, Sendable {
        let terminalId: String
        let after: String?
    }

    struct StoreLiveArguments: Codable, Sendable {
        let after: String?
    }

    /// Every event of a basket: its changes, the plugins' decisions about it, its payment.
    func basketEvents(context: ApiContext, arguments: BasketLiveArguments) async throws -> AsyncStream<LiveEvent> {
        try await basketStream(context, arguments, types: nil)
    }

    /// age_verification's events for a basket (required, completed, failed, item released).
    func ageVerificationEvents(context: ApiContext, arguments: BasketLiveArguments) async throws -> AsyncStream<LiveEvent> {
        try await basketStream(context, arguments, types: LiveFilter.ageTypes)
    }

    /// purchase_recommender's suggestions for a basket, as they are made.
    func recommendationEvents(context: ApiContext, arguments: BasketLiveArguments) async throws -> AsyncStream<LiveEvent> {
        try await basketStream(context, arguments, types: ["RECOMMENDATION_SUGGESTED"])
    }

    private func basketStream(_ context: ApiContext, _ arguments: BasketLiveArguments, types: Set<String>?) async throws -> AsyncStream<LiveEvent> {
        let principal = try await context.principal()
        // Refuses another till's basket (a manager may watch any).
        let basket = try await context.services.baskets.basket(arguments.basketId, for: principal)
        return try context.openLive(LiveFilter(.basket(basket.id), types: types), after: arguments.after).stream
    }

    /// What a till is told: its session ending, fraud alerts, age checks, recommendations,
    /// customer profiles and payment results, for every basket of the terminal.
    func terminalEvents(context: ApiContext, arguments: TerminalLiveArguments) async throws -> AsyncStream<LiveEvent> {
        let principal = try await context.principal()
        let terminal = try Validate.terminalId(arguments.terminalId)
        if terminal != principal.terminalId { try principal.require(.manager, to: "watching another terminal") }
        return try context.openLive(LiveFilter(.terminal(terminal), types: LiveFilter.tillTypes), after: arguments.after).stream
    }

    /// Every fraud alert of the store, for managers.
    func storeFraudAlerts(context: ApiContext, arguments: StoreLiveArguments) async throws -> AsyncStream<LiveEvent> {
        let principal = try await context.principal()
        try principal.require(.manager, to: "watching the store's fraud alerts")
        return try context.openLive(LiveFilter(.store, types: ["FRAUD_ALERT"]), after: arguments.after).stream
    }
}

/// A pushed recommendation list: the event's suggestions, numbered (as the query numbers them)
/// so the till can accept or reject them.
struct RecommendationPushView: Sendable {
    let id: String
    let cursor: String
    let basketId: String
    let recommendations: [RecommendationView]
}

extension LiveEvent {
    var cursorText: String { cursor.text }
    var time: String { UTCTime.iso8601(milliseconds: timeMilliseconds) }
    var timeMs: String { String(timeMilliseconds) }

    /// The suggestions in this RECOMMENDATION_SUGGESTED event, recorded for accept/reject.
    func recommendationPush(context: ApiContext, arguments: Resolver.BasketLiveArguments) async throws -> RecommendationPushView {
        let basket = basketId ?? ""
        let views = try await Resolver.recommendationViews(basket, payload["recommendations"]?.arrayValue ?? [], context)
        return RecommendationPushView(id: id, cursor: cursor.text, basketId: basket, recommendations: views)
    }
}
