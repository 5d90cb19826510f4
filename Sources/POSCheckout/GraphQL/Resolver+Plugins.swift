import Graphiti
import POSPlatform

struct RecommendationView: Sendable {
    let id: Int
    let basketId: String
    let productId: String
    let productName: String
    let price: Double?
    let sourceProduct: String
    let reason: String
    let score: Double
    let status: String
}

struct TimeEntryView: Sendable {
    let employeeId: String
    let terminalId: String
    let clockIn: String
    let clockOut: String?
    let totalHours: Double?
    let closedBy: String?
}

struct HoursView: Sendable {
    let period: String
    let hours: Double
}

struct TimeSheetView: Sendable {
    let employeeId: String
    let entries: [TimeEntryView]
    let hoursPerDay: [HoursView]
    let hoursPerWeek: [HoursView]
}

struct PurchaseView: Sendable {
    let basketId: String
    let purchasedAt: String
    let amount: Double?
    /// The lines as the plugin recorded them (JSON text).
    let lines: String
}

struct RecommendationAnswerView: Sendable {
    let success: Bool
    let message: String
    let basket: BasketView?
    let position: PositionView?
}

extension Resolver {
    struct RecommendationsArguments: Codable, Sendable {
        let basketId: String
    }

    /// purchase_recommender's current list for the basket, numbered for the original's client.
    func recommendations(context: ApiContext, arguments: RecommendationsArguments) async throws -> [RecommendationView] {
        let principal = try await context.principal()
        let basket = try await context.services.baskets.basket(arguments.basketId, for: principal)
        // After the basket's latest event, so a list asked for right after a scan includes it.
        let latest = try await context.services.outbox.latestPosition(of: basket.id)
        let answer = try await context.services.plugins.query(
            "purchase_recommender", "recommendations", .object(["basket_id": .string(basket.id)]), after: latest.map { [$0] } ?? [])
        return try await Self.recommendationViews(basket.id, answer.arrayValue ?? [], context)
    }

    /// purchase_recommender's suggestions (its query's answer or a RECOMMENDATION_SUGGESTED
    /// payload) as the till sees them: each numbered once per basket and product (recorded for
    /// accept/reject), with the catalogue's name and price.
    static func recommendationViews(_ basketId: String, _ suggested: [JSONValue], _ context: ApiContext) async throws -> [RecommendationView] {
        let products = suggested.compactMap { $0["product_id"]?.stringValue }
        let (ids, statuses) = try await context.services.database.run { db -> ([String: Int], [String: String]) in
            if !products.isEmpty {
                try db.execute(
                    "INSERT INTO api_recommendations (basket_id, product_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
                    [.text(basketId), .text(PostgresArrayLiteral.text(products))])
            }
            let rows = try db.execute("SELECT product_id, id, status FROM api_recommendations WHERE basket_id = $1", [.text(basketId)])
            var ids: [String: Int] = [:], statuses: [String: String] = [:]
            for row in 0..<rows.rows.count {
                ids[rows.text(row, 0) ?? ""] = Int(rows.int(row, 1) ?? 0)
                statuses[rows.text(row, 0) ?? ""] = rows.text(row, 2)
            }
            return (ids, statuses)
        }
        var views: [RecommendationView] = []
        for item in suggested {
            guard let product = item["product_id"]?.stringValue, let id = ids[product] else { continue }
            let known = try await context.services.catalogue.product(id: product)
            views.append(RecommendationView(
                id: id, basketId: basketId, productId: product, productName: known?.name ?? product, price: known?.price,
                sourceProduct: item["source_product"]?.stringValue ?? "", reason: item["reason"]?.stringValue == "learned" ? "Often bought together" : "Frequently bought together",
                score: item["score"]?.numberValue ?? 0, status: statuses[product] ?? "PENDING"))
        }
        return views
    }

    func pendingRecommendations(context: ApiContext, arguments: RecommendationsArguments) async throws -> [RecommendationView] {
        try await recommendations(context: context, arguments: arguments).filter { $0.status == "PENDING" }
    }

    struct AnswerArguments: Codable, Sendable {
        let recommendationId: Int
        let basketId: String?
    }

    func acceptRecommendation(context: ApiContext, arguments: AnswerArguments) async throws -> RecommendationAnswerView {
        try await answer(context, arguments, accepted: true)
    }

    func rejectRecommendation(context: ApiContext, arguments: AnswerArguments) async throws -> RecommendationAnswerView {
        try await answer(context, arguments, accepted: false)
    }

    private func answer(_ context: ApiContext, _ arguments: AnswerArguments, accepted: Bool) async throws -> RecommendationAnswerView {
        let principal = try await context.principal()
        let found = try await context.services.database.run { db -> (String, String, String)? in
            let rows = try db.execute("SELECT basket_id, product_id, status FROM api_recommendations WHERE id = $1", [.text(String(arguments.recommendationId))])
            return rows.rows.isEmpty ? nil : (try rows.required(0, 0), try rows.required(0, 1), try rows.required(0, 2))
        }
        guard let (basketId, productId, status) = found, arguments.basketId == nil || arguments.basketId == basketId else {
            throw CheckoutError.notFound("no recommendation \(arguments.recommendationId)\(arguments.basketId.map { " for basket \($0)" } ?? "")")
        }
        guard status == "PENDING" else { throw CheckoutError(.conflict, "recommendation \(arguments.recommendationId) was already \(status.lowercased())") }
        let employee = principal.employeeId
        let mark: @Sendable (PostgresConnection, Basket) throws -> Void = { db, _ in
            let updated = try db.execute(
                "UPDATE api_recommendations SET status = $2, answered_by = $3, answered_at = now() WHERE id = $1 AND status = 'PENDING' RETURNING 1",
                [.text(String(arguments.recommendationId)), .text(accepted ? "ACCEPTED" : "REJECTED"), .text(String(employee))])
            if updated.rows.isEmpty { throw CheckoutError(.conflict, "recommendation \(arguments.recommendationId) was already answered") }
        }
        let change = try await context.services.baskets.record(
            accepted ? "RECOMMENDATION_ACCEPTED" : "RECOMMENDATION_REJECTED",
            payload: ["product_id": .string(productId), "employee_id": .number(Double(employee))], in: basketId, by: principal, also: mark)
        var positions = change.positions
        var basket = change.basket
        if accepted, let product = try await context.services.catalogue.product(id: productId) {
            let added = try await context.services.baskets.add(product, quantity: 1, to: basketId, by: principal)
            positions += added.positions
            basket = added.basket
        }
        return RecommendationAnswerView(
            success: true, message: accepted ? "added \(productId)" : "rejected \(productId)", basket: try await basketView(basket, context),
            position: PositionView.from(positions))
    }

    struct TimeEntriesArguments: Codable, Sendable {
        let employeeId: Int?
        let from: String?
        let to: String?
    }

    /// employee_time_tracker's entries of an employee (their own, or anyone's for a manager).
    func myTimeEntries(context: ApiContext, arguments: TimeEntriesArguments) async throws -> TimeSheetView {
        let principal = try await context.principal()
        let employee = arguments.employeeId ?? principal.employeeId
        if employee != principal.employeeId { try principal.require(.manager, to: "reading another employee's time entries") }
        var request: [String: JSONValue] = ["employee_id": .number(Double(employee))]
        let now = CheckoutClock.nowMilliseconds()
        request["from_ms"] = .number(Double(try arguments.from.map(Self.day) ?? (now - 7 * 86_400_000)))
        request["to_ms"] = .number(Double(try arguments.to.map { try Self.day($0) + 86_400_000 } ?? (now + 86_400_000)))
        let answer = try await context.services.plugins.query("employee_time_tracker", "entries", .object(request))
        let entries = (answer["entries"]?.arrayValue ?? []).map { entry in
            TimeEntryView(
                employeeId: entry["employee_id"]?.stringValue ?? String(employee), terminalId: entry["terminal_id"]?.stringValue ?? "",
                clockIn: UTCTime.iso8601(milliseconds: entry["clock_in_ms"]?.exactInteger ?? 0),
                clockOut: entry["clock_out_ms"]?.exactInteger.map { UTCTime.iso8601(milliseconds: $0) }, totalHours: entry["total_hours"]?.numberValue,
                closedBy: entry["closed_by"]?.stringValue)
        }
        func hours(_ value: JSONValue?) -> [HoursView] {
            (value?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { HoursView(period: $0.key, hours: $0.value.numberValue ?? 0) }
        }
        return TimeSheetView(employeeId: String(employee), entries: entries, hoursPerDay: hours(answer["hours_per_day"]), hoursPerWeek: hours(answer["hours_per_week"]))
    }

    static func day(_ text: String) throws -> Int64 {
        guard let day = QueryDate.parse(text) else { throw CheckoutError.badInput("'\(text.prefix(40))' is not a date (YYYY-MM-DD)") }
        return day
    }

    struct PurchasesArguments: Codable, Sendable {
        let customerId: String
    }

    func customerPurchases(context: ApiContext, arguments: PurchasesArguments) async throws -> [PurchaseView] {
        _ = try await context.principal()
        let answer = try await context.services.plugins.query("customer_lookup", "customer_purchases", .object(["customer_id": .string(arguments.customerId)]))
        return (answer.arrayValue ?? []).map {
            PurchaseView(
                basketId: $0["basket_id"]?.stringValue ?? "", purchasedAt: UTCTime.iso8601(milliseconds: $0["at_ms"]?.exactInteger ?? 0),
                amount: $0["amount"]?.numberValue, lines: ($0["lines"] ?? .array([])).jsonText)
        }
    }

    // MARK: Plugins

    func plugins(context: ApiContext, arguments: NoArguments) async throws -> [PluginView] {
        try await context.principal().require(.manager, to: "seeing the plugins")
        return try await context.services.plugins.list()
    }

    struct UpdatePluginArguments: Codable, Sendable {
        let id: GraphQLID
        let enabled: Bool?
        let config: String?
        let supportedEvents: [String]?
    }

    func updatePlugin(context: ApiContext, arguments: UpdatePluginArguments) async throws -> PluginView {
        let principal = try await context.principal()
        try principal.require(.admin, to: "changing plugins")
        if arguments.supportedEvents != nil {
            throw CheckoutError.badInput("a plugin declares the events it subscribes to itself; supportedEvents cannot be set")
        }
        return try await context.services.plugins.update(name: arguments.id.value, enabled: arguments.enabled, settings: arguments.config, by: principal)
    }

    struct PluginAuditArguments: Codable, Sendable {
        let id: String
    }

    func pluginAudit(context: ApiContext, arguments: PluginAuditArguments) async throws -> [PluginAuditView] {
        try await context.services.plugins.audit(name: arguments.id, by: try await context.principal())
    }
}

/// Calendar dates of query arguments.
enum QueryDate {
    /// Milliseconds at 00:00 UTC of a YYYY-MM-DD date.
    static func parse(_ text: String) -> Int64? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1970...9999).contains(year), (1...12).contains(month),
            (1...31).contains(day)
        else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468) * 86_400_000
    }
}
