/// Generates realistic store traffic, deterministically from a seed: terminals with employees
/// logging in, baskets with items (some age-restricted, some removed again), customers,
/// age checks and payments, with event times advancing like a real day. The driver of
/// pos-loadgen, the demo and the benchmarks.
public struct StoreTrafficGenerator: Sendable {
    /// How events are written: the envelope v1, or the original system's flat shape and names.
    public enum Format: String, Sendable, CaseIterable {
        case canonical
        case original
    }

    public struct Product: Sendable {
        public let id: String
        public let name: String
        public let price: Double
        public let minimumAge: Int?
    }

    /// The original system's seed products.
    public static let products: [Product] = [
        Product(id: "BURGER", name: "Cheeseburger", price: 8.99, minimumAge: nil), Product(id: "FRIES", name: "French Fries", price: 2.99, minimumAge: nil),
        Product(id: "COKE", name: "Coca Cola", price: 1.99, minimumAge: nil), Product(id: "COFFEE", name: "Coffee", price: 3.99, minimumAge: nil),
        Product(id: "DONUT", name: "Donut", price: 1.99, minimumAge: nil), Product(id: "MUFFIN", name: "Blueberry Muffin", price: 2.49, minimumAge: nil),
        Product(id: "LAPTOP", name: "Laptop Computer", price: 999.99, minimumAge: nil), Product(id: "MOUSE", name: "Wireless Mouse", price: 29.99, minimumAge: nil),
        Product(id: "LAPTOP_BAG", name: "Laptop Bag", price: 39.99, minimumAge: nil), Product(id: "PHONE", name: "Smartphone", price: 699.99, minimumAge: nil),
        Product(id: "PHONE_CASE", name: "Phone Case", price: 19.99, minimumAge: nil), Product(id: "SCREEN_PROTECTOR", name: "Screen Protector", price: 9.99, minimumAge: nil),
        Product(id: "PIZZA", name: "Pizza", price: 12.99, minimumAge: nil), Product(id: "GARLIC_BREAD", name: "Garlic Bread", price: 4.99, minimumAge: nil),
        Product(id: "SODA", name: "Soda", price: 2.49, minimumAge: nil), Product(id: "BEER", name: "Beer", price: 4.99, minimumAge: 21),
        Product(id: "WINE", name: "Wine", price: 12.99, minimumAge: 21), Product(id: "CIGARETTES", name: "Cigarettes", price: 8.99, minimumAge: 18),
        Product(id: "ENERGY_DRINK", name: "Energy Drink", price: 3.99, minimumAge: 16),
    ]
    static let customers = ["+1234567890", "jane.doe@example.com", "CARD_123456", "+1987654321", "bob@example.com"]

    public let terminals: Int
    public let format: Format
    private var random: SplitMix64
    private var clock: Int64
    private var sessions: [Terminal]
    private var pending: [(type: String, key: String, fields: [String: JSONValue])] = []
    private var sequence = 0

    struct Terminal: Sendable {
        var id: String
        var employee: Int
        var loggedIn = false
        var basketsLeft = 0
    }

    public init(terminals: Int = 4, format: Format = .canonical, seed: UInt64 = 1, startMilliseconds: Int64 = 1_795_597_200_000) {
        self.terminals = max(1, terminals)
        self.format = format
        random = SplitMix64(seed: seed)
        clock = startMilliseconds
        sessions = (0..<self.terminals).map { Terminal(id: "TERM\(UTCTime.zeroPadded3($0 + 1))", employee: $0 % 3 + 1) }
    }

    /// The next event as one JSON line, with its Kafka key (basket id, else terminal id).
    public mutating func next() -> (key: String, line: String) {
        while pending.isEmpty { plan() }
        let event = pending.removeFirst()
        clock += Int64(random.next(upTo: 900) + 100)  // 0.1-1 s between events
        sequence += 1
        return (event.key, render(event.type, fields: event.fields))
    }

    /// Queues the events of one terminal's next step: login, a whole basket, or logout.
    private mutating func plan() {
        let index = Int(random.next(upTo: UInt64(sessions.count)))
        var terminal = sessions[index]
        defer { sessions[index] = terminal }
        let ids: [String: JSONValue] = ["employee_id": .number(Double(terminal.employee)), "terminal_id": .string(terminal.id)]
        if !terminal.loggedIn {
            terminal.loggedIn = true
            terminal.basketsLeft = Int(random.next(upTo: 20)) + 5
            pending.append(("EMPLOYEE_LOGIN", terminal.id, ids))
            return
        }
        if terminal.basketsLeft == 0 {
            terminal.loggedIn = false
            pending.append(("EMPLOYEE_LOGOUT", terminal.id, ids))
            return
        }
        terminal.basketsLeft -= 1
        let basket = "basket_" + hex(random.next())
        var started = ids
        started["basket_id"] = .string(basket)
        if random.next(upTo: 2) == 0 { started["customer_identifier"] = .string(Self.customers[Int(random.next(upTo: UInt64(Self.customers.count)))]) }
        pending.append(("BASKET_STARTED", basket, started))
        var total = 0
        var restricted = 0
        for _ in 0..<(Int(random.next(upTo: 6)) + 1) {
            let product = Self.products[Int(random.next(upTo: UInt64(Self.products.count)))]
            let quantity = Int(random.next(upTo: 3)) + 1
            pending.append(
                ("ITEM_ADDED", basket, [
                    "basket_id": .string(basket), "terminal_id": .string(terminal.id), "product_id": .string(product.id),
                    "product_name": .string(product.name), "quantity": .number(Double(quantity)), "price": .number(product.price),
                ]))
            total += quantity * Int((product.price * 100).rounded())
            restricted = max(restricted, product.minimumAge ?? 0)
            if random.next(upTo: 10) == 0 {
                pending.append(("ITEM_REMOVED", basket, ["basket_id": .string(basket), "product_id": .string(product.id), "quantity": .number(Double(quantity)), "price": .number(product.price)]))
                total -= quantity * Int((product.price * 100).rounded())
            }
        }
        if restricted > 0 {
            pending.append(("AGE_VERIFIED", basket, [
                "basket_id": .string(basket), "verifier_employee_id": .number(Double(terminal.employee)), "customer_age": .number(Double(restricted + Int(random.next(upTo: 40)))),
                "method": .string("MANUAL_CHECK"),
            ]))
        }
        var payment = ids
        payment["basket_id"] = .string(basket)
        payment["amount"] = .number(Double(total) / 100)
        payment["payment_method"] = .string(random.next(upTo: 3) == 0 ? "CASH" : "CARD")
        pending.append(("PAYMENT_PROCESSED", basket, payment))
        pending.append(("BASKET_CLOSED", basket, ["basket_id": .string(basket), "terminal_id": .string(terminal.id)]))
    }

    static let originalNames = [
        "ITEM_ADDED": "item.added", "ITEM_REMOVED": "item.removed", "AGE_VERIFIED": "age.verified", "PAYMENT_PROCESSED": "payment.completed",
    ]

    private func render(_ type: String, fields: [String: JSONValue]) -> String {
        let iso = Self.iso8601(milliseconds: clock)
        switch format {
        case .canonical:
            let key = fields["basket_id"]?.stringValue ?? fields["terminal_id"]?.stringValue ?? ""
            return JSONValue.object([
                "id": .string(PluginCall.derivedID("loadgen/\(sequence)/\(clock)/\(type)/\(key)")), "type": .string(type), "schema_version": .number(1),
                "time": .string(iso), "key": .string(key), "source": .string("pos-loadgen"), "payload": .object(fields),
            ]).jsonText
        case .original:
            var flat = fields
            if type == "PAYMENT_PROCESSED", let amount = flat.removeValue(forKey: "amount") { flat["total_amount"] = amount }
            if type == "AGE_VERIFIED", let method = flat.removeValue(forKey: "method") { flat["verification_method"] = method }
            flat["event_type"] = .string(Self.originalNames[type] ?? type)
            flat["timestamp"] = .string(String(iso.dropLast()))  // the original wrote naive UTC times
            return JSONValue.object(flat).jsonText
        }
    }

    private func hex(_ value: UInt64) -> String {
        let digits = String(value & 0xffff_ffff, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func iso8601(milliseconds: Int64) -> String { UTCTime.iso8601(milliseconds: milliseconds) }
}

/// A small, fast, seedable random number generator (SplitMix64): the same seed gives the same
/// traffic on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(upTo bound: UInt64) -> UInt64 { next() % bound }
}
