import POSPlatform

/// Products and customers in PostgreSQL.
public struct Catalogue: Sendable {
    let database: Database

    public init(database: Database) { self.database = database }

    static let productColumns = "id, name, barcode, price_cents, category, tax_class, minimum_age"

    static func product(_ rows: PostgresRows, _ row: Int) throws -> Product {
        Product(
            id: try rows.required(row, 0), name: try rows.required(row, 1), barcode: rows.text(row, 2),
            priceCents: Int(rows.int(row, 3) ?? 0), category: try rows.required(row, 4), taxClass: try rows.required(row, 5),
            minimumAge: rows.int(row, 6).map { Int($0) })
    }

    public func product(id: String) async throws -> Product? {
        try await database.run { db in
            let rows = try db.execute("SELECT \(Self.productColumns) FROM api_products WHERE id = $1 AND active", [.text(id)])
            return rows.rows.isEmpty ? nil : try Self.product(rows, 0)
        }
    }

    /// A product by its id or its barcode (what a scanner sends).
    public func product(code: String) async throws -> Product? {
        try await database.run { db in
            let rows = try db.execute(
                "SELECT \(Self.productColumns) FROM api_products WHERE (id = $1 OR barcode = $1) AND active ORDER BY id = $1 DESC LIMIT 1", [.text(code)])
            return rows.rows.isEmpty ? nil : try Self.product(rows, 0)
        }
    }

    public func products(limit: Int = 500, offset: Int = 0) async throws -> [Product] {
        try await database.run { db in
            let rows = try db.execute(
                "SELECT \(Self.productColumns) FROM api_products WHERE active ORDER BY id LIMIT $1 OFFSET $2", [.text(String(limit)), .text(String(offset))])
            return try (0..<rows.rows.count).map { try Self.product(rows, $0) }
        }
    }

    /// Products whose barcode or id is `query`, then those whose name or id contains it (case
    /// does not matter), best matches first. Served by trigram indexes, so it stays fast at
    /// 100,000 products.
    public func search(_ query: String, limit: Int = 20) async throws -> [Product] {
        let text = query.trimmingWhitespace
        guard !text.isEmpty else { return [] }
        guard text.utf8.count <= 100 else { throw CheckoutError.badInput("a search is at most 100 bytes") }
        let pattern = "%" + text.lowercased().replacingAll("\\", with: "\\\\").replacingAll("%", with: "\\%").replacingAll("_", with: "\\_") + "%"
        return try await database.run { db in
            let rows = try db.execute(
                """
                SELECT \(Self.productColumns) FROM api_products
                WHERE active AND (barcode = $1 OR id = upper($1) OR lower(name) LIKE $2 OR lower(id) LIKE $2)
                ORDER BY (barcode = $1 OR id = upper($1)) DESC, lower(name) LIKE lower($1) || '%' DESC, length(name), id
                LIMIT $3
                """, [.text(text), .text(pattern), .text(String(min(max(limit, 1), 100)))])
            return try (0..<rows.rows.count).map { try Self.product(rows, $0) }
        }
    }

    static let customerColumns = "c.id, c.first_name, c.last_name, c.email, c.phone, c.loyalty_card, c.tier, c.points"

    static func customer(_ rows: PostgresRows, _ row: Int) throws -> Customer {
        Customer(
            id: try rows.required(row, 0), firstName: try rows.required(row, 1), lastName: try rows.required(row, 2), email: rows.text(row, 3),
            phone: rows.text(row, 4), loyaltyCard: rows.text(row, 5), tier: try rows.required(row, 6), points: Int(rows.int(row, 7) ?? 0))
    }

    public func customer(id: String) async throws -> Customer? {
        try await database.run { db in
            let rows = try db.execute("SELECT \(Self.customerColumns) FROM api_customers c WHERE c.id = $1", [.text(id)])
            return rows.rows.isEmpty ? nil : try Self.customer(rows, 0)
        }
    }

    /// The customer a phone number, email or loyalty card belongs to.
    public func customer(identifier: String) async throws -> Customer? {
        guard let normalised = CustomerIdentifier.normalise(identifier)?.normalised else { return nil }
        return try await database.run { db in
            let rows = try db.execute(
                "SELECT \(Self.customerColumns) FROM api_customers c JOIN api_customer_identifiers i ON i.customer_id = c.id WHERE i.identifier = $1",
                [.text(normalised)])
            return rows.rows.isEmpty ? nil : try Self.customer(rows, 0)
        }
    }

    public func customers() async throws -> [Customer] {
        try await database.run { db in
            let rows = try db.execute("SELECT \(Self.customerColumns) FROM api_customers c ORDER BY c.id")
            return try (0..<rows.rows.count).map { try Self.customer(rows, $0) }
        }
    }

    /// The profile customer_lookup's directory client expects (`GET {endpoint}/{identifier}/`).
    public static func directoryProfile(_ customer: Customer) -> JSONValue {
        var fields: [String: JSONValue] = [
            "customer_id": .string(customer.id), "first_name": .string(customer.firstName), "last_name": .string(customer.lastName),
            "tier": .string(customer.tier), "loyalty_points": .number(Double(customer.points)),
        ]
        if let email = customer.email { fields["email"] = .string(email) }
        if let phone = customer.phone { fields["phone"] = .string(phone) }
        if let card = customer.loyaltyCard { fields["loyalty_card"] = .string(card) }
        return .object(fields)
    }
}
