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

    public init(config: ApiConfig, database: Database, outbox: Outbox, provider: any PaymentProvider, decisions: any DecisionSource, logger: Logger) {
        self.config = config
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

    init(services: CheckoutServices, token: String?, address: String) {
        self.services = services
        self.token = token
        self.address = address
    }

    /// The signed-in employee; UNAUTHENTICATED without a valid token.
    func principal() async throws -> Principal {
        if let principal = resolved.withLock({ $0 }) { return principal }
        let principal = try await services.signIn.authenticate(token)
        resolved.withLock { $0 = principal }
        return principal
    }
}
