import Logging
import Foundation
import Synchronization

/// Everything the resolvers use, built once at startup.
public struct CheckoutServices: Sendable {
    public let config: ApiConfig
    public let database: Database
    public let catalogue: Catalogue
    public let signIn: SignIn
    public let baskets: Baskets
    public let payments: Payments
    public let plugins: PluginAdmin
    public let decisions: any DecisionSource
    public let outbox: Outbox
    /// The live events of this instance's tills (subscriptions and WebSockets).
    public let live: LiveHub

    public init(
        config: ApiConfig, database: Database, outbox: Outbox, provider: any PaymentProvider, decisions: any DecisionSource, live: LiveHub = LiveHub(),
        logger: Logger
    ) {
        self.config = config
        self.live = live
        self.database = database
        self.decisions = decisions
        self.outbox = outbox
        catalogue = Catalogue(database: database)
        signIn = SignIn(database: database, outbox: outbox, config: config)
        baskets = Baskets(database: database, outbox: outbox, config: config)
        payments = Payments(database: database, outbox: outbox, config: config, provider: provider, decisions: decisions, logger: logger)
        plugins = PluginAdmin(database: database, config: config, decisions: decisions)
    }
}

/// One GraphQL request's context: the services, the caller's token and address, and the
/// principal once resolved (each request authenticates once, however many fields it has).
public final class ApiContext: Sendable {
    let services: CheckoutServices
    let token: String?
    let address: String
    private let resolved = Mutex<Principal?>(nil)
    /// The subscriber a subscription operation opened (its connection feeds and closes it).
    private let opened = Mutex<LiveSubscriber?>(nil)

    init(services: CheckoutServices, token: String?, address: String, principal: Principal? = nil) {
        self.services = services
        self.token = token
        self.address = address
        resolved.withLock { $0 = principal }
    }

    /// Subscribes to the hub for a subscription operation, remembering the subscriber.
    func openLive(_ filter: LiveFilter, after: String?) throws -> LiveSubscriber {
        let subscriber: LiveSubscriber
        do {
            if let after, !after.isEmpty {
                if let cursor = LiveCursor(text: after) {
                    subscriber = try services.live.subscribe(filter, after: cursor)
                } else {
                    subscriber = try services.live.subscribe(filter, afterEventId: after)
                }
            } else {
                subscriber = try services.live.subscribe(filter)
            }
        } catch {
            switch error {
            case .tooOld: throw CheckoutError(.resumeTooOld, "events after \(after ?? "") are no longer kept; reload the basket, then subscribe without `after`")
            case .notReady: throw CheckoutError(.unavailable, "the live feed is still starting; try again in a moment")
            case .unknownEvent: throw CheckoutError(.resumeTooOld, "no recent event has id \(after ?? ""); pass the message's `cursor`, or reload and subscribe")
            }
        }
        opened.withLock { $0 = subscriber }
        return subscriber
    }

    /// The subscriber opened by the operation run with this context, if any.
    var openedSubscriber: LiveSubscriber? { opened.withLock { $0 } }

    /// The signed-in employee; UNAUTHENTICATED without a valid token.
    func principal() async throws -> Principal {
        if let principal = resolved.withLock({ $0 }) { return principal }
        let principal = try await services.signIn.authenticate(token)
        resolved.withLock { $0 = principal }
        return principal
    }
}
