import Graphiti
import POSPlatform

/// The GraphQL resolvers: argument checking and shaping; the work is the services'.
struct Resolver: Sendable {
    // MARK: Sign-in

    struct LoginArguments: Codable, Sendable {
        let username: String
        let password: String
        let terminalId: String?
    }

    func login(context: ApiContext, arguments: LoginArguments) async throws -> LoginView {
        let session = try await context.services.signIn.login(
            username: arguments.username, password: arguments.password, terminalId: arguments.terminalId, address: context.address)
        return LoginView(
            token: session.token, employee: EmployeeView(session.employee),
            terminal: TerminalView(terminalId: session.terminalId, loginTime: UTCTime.iso8601(milliseconds: session.loginTimeMilliseconds)),
            expiresAt: UTCTime.iso8601(milliseconds: session.loginTimeMilliseconds + Int64(context.services.config.tokenLifetimeSeconds) * 1000),
            position: session.position.map(PositionView.init))
    }

    struct LogoutArguments: Codable, Sendable {
        let terminalId: String?
    }

    func logout(context: ApiContext, arguments: LogoutArguments) async throws -> LogoutView {
        let principal = try await context.principal()
        let position = try await context.services.signIn.logout(principal, terminalId: arguments.terminalId)
        return LogoutView(success: true, message: "signed out of \(principal.terminalId)", position: position.map(PositionView.init))
    }

    func me(context: ApiContext, arguments: NoArguments) async throws -> EmployeeView {
        let principal = try await context.principal()
        guard let employee = try await context.services.signIn.employees().first(where: { $0.id == principal.employeeId }) else {
            throw CheckoutError(.unauthenticated, "this employee no longer exists")
        }
        return EmployeeView(employee)
    }

    func employees(context: ApiContext, arguments: NoArguments) async throws -> [EmployeeView] {
        try await context.principal().require(.manager, to: "listing employees")
        return try await context.services.signIn.employees().map(EmployeeView.init)
    }

    // MARK: Catalogue

    struct ProductsArguments: Codable, Sendable {
        let limit: Int?
        let offset: Int?
    }

    func products(context: ApiContext, arguments: ProductsArguments) async throws -> [ProductView] {
        _ = try await context.principal()
        let limit = min(max(arguments.limit ?? 500, 1), 1000)
        return try await context.services.catalogue.products(limit: limit, offset: max(arguments.offset ?? 0, 0)).map(ProductView.init)
    }

    struct SearchArguments: Codable, Sendable {
        let query: String
        let limit: Int?
    }

    func searchProducts(context: ApiContext, arguments: SearchArguments) async throws -> [ProductView] {
        _ = try await context.principal()
        return try await context.services.catalogue.search(arguments.query, limit: arguments.limit ?? 20).map(ProductView.init)
    }

    struct ProductArguments: Codable, Sendable {
        let id: String?
        let productId: String?
        let barcode: String?
    }

    func product(context: ApiContext, arguments: ProductArguments) async throws -> ProductView? {
        _ = try await context.principal()
        guard let code = arguments.id ?? arguments.productId ?? arguments.barcode else { throw CheckoutError.badInput("give id, productId or barcode") }
        return try await context.services.catalogue.product(code: code).map(ProductView.init)
    }

    struct CustomerArguments: Codable, Sendable {
        let id: String?
        let customerId: String?
    }

    func customer(context: ApiContext, arguments: CustomerArguments) async throws -> CustomerView? {
        _ = try await context.principal()
        guard let id = arguments.id ?? arguments.customerId else { throw CheckoutError.badInput("give id") }
        return try await context.services.catalogue.customer(id: id).map(CustomerView.init)
    }

    struct IdentifierArguments: Codable, Sendable {
        let identifier: String
    }

    func customerByIdentifier(context: ApiContext, arguments: IdentifierArguments) async throws -> CustomerView? {
        _ = try await context.principal()
        return try await context.services.catalogue.customer(identifier: arguments.identifier).map(CustomerView.init)
    }

    func allCustomers(context: ApiContext, arguments: NoArguments) async throws -> [CustomerView] {
        try await context.principal().require(.manager, to: "listing every customer")
        return try await context.services.catalogue.customers().map(CustomerView.init)
    }

    // MARK: Baskets (reading)

    struct BasketArguments: Codable, Sendable {
        let basketId: String?
        let id: String?
    }

    func basketView(_ basket: Basket, _ context: ApiContext) async throws -> BasketView {
        let customer: Customer? = if let id = basket.customerId { try await context.services.catalogue.customer(id: id) } else { nil }
        return BasketView(basket, customer: customer, taxRates: context.services.config.taxRates)
    }

    func basket(context: ApiContext, arguments: BasketArguments) async throws -> BasketView? {
        guard let id = arguments.basketId ?? arguments.id else { throw CheckoutError.badInput("give basketId") }
        let principal = try await context.principal()
        do {
            return try await basketView(try await context.services.baskets.basket(id, for: principal), context)
        } catch let error as CheckoutError where error.code == .notFound {
            return nil
        }
    }

    struct ActiveBasketsArguments: Codable, Sendable {
        let employeeId: Int?
    }

    func activeBaskets(context: ApiContext, arguments: ActiveBasketsArguments) async throws -> [BasketView] {
        let principal = try await context.principal()
        var views: [BasketView] = []
        for basket in try await context.services.baskets.active(employeeId: arguments.employeeId, for: principal) {
            views.append(try await basketView(basket, context))
        }
        return views
    }
}
