import HummingbirdBcrypt
import POSPlatform

/// The original's seed data (employees, products, directory customers), loaded idempotently:
/// rows are inserted or brought back to these values, nothing else is touched.
public enum SeedData {
    public struct SeedEmployee: Sendable {
        let id: Int, code: String, username: String, name: String, role: Role, password: String
    }

    public static let employees: [SeedEmployee] = [
        SeedEmployee(id: 1, code: "EMP001", username: "john", name: "John Cashier", role: .cashier, password: "password123"),
        SeedEmployee(id: 2, code: "EMP002", username: "jane", name: "Jane Manager", role: .manager, password: "password123"),
        SeedEmployee(id: 3, code: "EMP003", username: "admin", name: "Store Admin", role: .admin, password: "admin123"),
    ]

    /// The original's 19 products, priced in cents, with in-store EAN-13 barcodes and tax classes.
    public static let products: [Product] = {
        let rows: [(String, String, Int, String, Int?)] = [
            ("BURGER", "Cheeseburger", 899, "food", nil), ("FRIES", "French Fries", 299, "food", nil), ("COKE", "Coca Cola", 199, "beverage", nil),
            ("COFFEE", "Coffee", 399, "beverage", nil), ("DONUT", "Donut", 199, "food", nil), ("MUFFIN", "Blueberry Muffin", 249, "food", nil),
            ("LAPTOP", "Laptop Computer", 99_999, "electronics", nil), ("MOUSE", "Wireless Mouse", 2999, "electronics", nil),
            ("LAPTOP_BAG", "Laptop Bag", 3999, "electronics", nil), ("PHONE", "Smartphone", 69_999, "electronics", nil),
            ("PHONE_CASE", "Phone Case", 1999, "electronics", nil), ("SCREEN_PROTECTOR", "Screen Protector", 999, "electronics", nil),
            ("PIZZA", "Pizza", 1299, "food", nil), ("GARLIC_BREAD", "Garlic Bread", 499, "food", nil), ("SODA", "Soda", 249, "beverage", nil),
            ("BEER", "Beer", 499, "alcohol", 21), ("WINE", "Wine", 1299, "alcohol", 21), ("CIGARETTES", "Cigarettes", 899, "tobacco", 18),
            ("ENERGY_DRINK", "Energy Drink", 399, "beverage", 16),
        ]
        return rows.enumerated().map { index, row in
            let taxClass = switch row.3 {
            case "food", "beverage": "food"
            case "alcohol": "alcohol"
            case "tobacco": "tobacco"
            default: "standard"
            }
            return Product(id: row.0, name: row.1, barcode: ean13(200_000_000_000 + index + 1), priceCents: row.2, category: row.3, taxClass: taxClass, minimumAge: row.4)
        }
    }()

    /// The original's mock directory: five customers (John Doe is +1234567890, GOLD, 1250 points).
    public static let customers: [Customer] = [
        Customer(id: "CUST_001", firstName: "John", lastName: "Doe", email: "john@example.com", phone: "+1234567890", loyaltyCard: "CARD_123456", tier: "GOLD", points: 1250),
        Customer(id: "CUST_002", firstName: "Jane", lastName: "Smith", email: "jane.smith@example.com", phone: "+1987654321", loyaltyCard: "CARD_234567", tier: "SILVER", points: 540),
        Customer(id: "CUST_003", firstName: "Bob", lastName: "Johnson", email: "bob@example.com", phone: "+1555123456", loyaltyCard: "CARD_345678", tier: "BRONZE", points: 80),
        Customer(id: "CUST_004", firstName: "Alice", lastName: "Williams", email: "alice@example.com", phone: "+1555987654", loyaltyCard: "CARD_456789", tier: "PLATINUM", points: 5200),
        Customer(id: "CUST_005", firstName: "Charlie", lastName: "Brown", email: "charlie@example.com", phone: "+1555246810", loyaltyCard: "CARD_567890", tier: "BRONZE", points: 0),
    ]

    /// An EAN-13 from its first twelve digits.
    public static func ean13(_ twelve: Int) -> String {
        let digits = String(twelve).compactMap(\.wholeNumberValue)
        let padded = Array(repeating: 0, count: max(0, 12 - digits.count)) + digits
        let sum = padded.enumerated().reduce(0) { $0 + $1.element * ($1.offset % 2 == 0 ? 1 : 3) }
        return padded.map(String.init).joined() + String((10 - sum % 10) % 10)
    }

    /// Loads everything; `bcryptCost` 10 in production, lower in tests. Returns what it did.
    @discardableResult
    public static func load(_ db: PostgresConnection, bcryptCost: UInt8 = 10, extraProducts: Int = 0, benchCashiers: Int = 0) throws -> String {
        try CheckoutSchema.migrator.migrate(db)
        // Benchmark tills need a cashier each (an employee has one terminal): bench001.. with
        // password "bench", ids from 1001.
        let bench = (0..<benchCashiers).map { index in
            SeedEmployee(
                id: 1001 + index, code: "BENCH\(UTCTime.zeroPadded3(index + 1))", username: "bench\(UTCTime.zeroPadded3(index + 1))",
                name: "Bench Cashier \(index + 1)", role: .cashier, password: "bench")
        }
        for employee in employees + bench {
            // A password is only hashed again when the stored one no longer matches, so a
            // re-run keeps the hashes (and costs nothing).
            let stored = try db.execute("SELECT password_hash FROM api_employees WHERE id = $1", [.text(String(employee.id))]).rows.first?.first ?? nil
            let hash = stored.flatMap { Bcrypt.verify(employee.password, hash: $0) ? $0 : nil } ?? Bcrypt.hash(employee.password, cost: bcryptCost)
            try db.execute(
                """
                INSERT INTO api_employees (id, code, username, display_name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, username = EXCLUDED.username, display_name = EXCLUDED.display_name,
                    role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, active = true
                """,
                [.text(String(employee.id)), .text(employee.code), .text(employee.username), .text(employee.name), .text(employee.role.rawValue), .text(hash)])
        }
        var all = products
        if extraProducts > 0 { all += generatedProducts(extraProducts) }
        for start in stride(from: 0, to: all.count, by: 5000) {
            let chunk = Array(all[start..<min(start + 5000, all.count)])
            try db.execute(
                """
                INSERT INTO api_products (id, name, barcode, price_cents, category, tax_class, minimum_age)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[])
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, barcode = EXCLUDED.barcode, price_cents = EXCLUDED.price_cents,
                    category = EXCLUDED.category, tax_class = EXCLUDED.tax_class, minimum_age = EXCLUDED.minimum_age, active = true
                """,
                [
                    .text(PostgresArrayLiteral.text(chunk.map(\.id))), .text(PostgresArrayLiteral.text(chunk.map(\.name))),
                    .text(PostgresArrayLiteral.text(chunk.map(\.barcode))), .text(PostgresArrayLiteral.text(chunk.map { String($0.priceCents) })),
                    .text(PostgresArrayLiteral.text(chunk.map(\.category))), .text(PostgresArrayLiteral.text(chunk.map(\.taxClass))),
                    .text(PostgresArrayLiteral.text(chunk.map { $0.minimumAge.map(String.init) })),
                ])
        }
        for customer in customers {
            try db.execute(
                """
                INSERT INTO api_customers (id, first_name, last_name, email, phone, loyalty_card, tier, points) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (id) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, email = EXCLUDED.email,
                    phone = EXCLUDED.phone, loyalty_card = EXCLUDED.loyalty_card, tier = EXCLUDED.tier, points = EXCLUDED.points
                """,
                [
                    .text(customer.id), .text(customer.firstName), .text(customer.lastName), customer.email.map { .text($0) } ?? .null,
                    customer.phone.map { .text($0) } ?? .null, customer.loyaltyCard.map { .text($0) } ?? .null, .text(customer.tier),
                    .text(String(customer.points)),
                ])
            for identifier in customer.identifiers {
                try db.execute(
                    "INSERT INTO api_customer_identifiers (identifier, customer_id) VALUES ($1, $2) ON CONFLICT (identifier) DO UPDATE SET customer_id = EXCLUDED.customer_id",
                    [.text(identifier), .text(customer.id)])
            }
        }
        // A bulk load leaves the tables without statistics or a visibility map until
        // autovacuum gets to them: searches at 100,000 products took 10-35 ms instead of 1-8.
        try db.executeScript("VACUUM ANALYZE api_products, api_customers, api_customer_identifiers, api_employees")
        return "\(employees.count + bench.count) employees, \(all.count) products, \(customers.count) customers"
    }

    /// A large catalogue for benchmarks: `count` products with varied names and barcodes.
    public static func generatedProducts(_ count: Int) -> [Product] {
        let adjectives = ["Organic", "Classic", "Spicy", "Frozen", "Fresh", "Smoked", "Roasted", "Sweet", "Salted", "Premium", "Mini", "Family"]
        let nouns = ["Apple", "Bread", "Cheese", "Yogurt", "Chicken", "Coffee", "Tea", "Rice", "Pasta", "Cookie", "Juice", "Salmon", "Soup", "Chips"]
        let categories = ["food", "beverage", "household", "electronics"]
        return (0..<count).map { index in
            let name = "\(adjectives[index % adjectives.count]) \(nouns[(index / adjectives.count) % nouns.count]) \(index)"
            return Product(
                id: "SKU\(100_000 + index)", name: name, barcode: ean13(300_000_000_000 + index), priceCents: 99 + (index * 37) % 5000,
                category: categories[index % categories.count], taxClass: index % 4 == 0 ? "food" : "standard")
        }
    }
}
