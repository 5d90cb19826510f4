import POSPlatform

/// Baskets in PostgreSQL. Every change locks its basket's row, checks who may make it, and
/// commits with its event in the outbox; the event is published before the call returns and
/// its position is given back, so a later question to a plugin can wait for it.
public struct Baskets: Sendable {
    let database: Database
    let outbox: Outbox
    let config: ApiConfig

    /// A change's outcome: the basket after it, and where its events landed.
    public struct Change: Sendable {
        public var basket: Basket
        public var positions: [PublishedPosition]
        /// The line the change made or touched.
        public var line: BasketLine?
    }

    // MARK: Reading

    static func load(_ db: PostgresConnection, _ id: String, lock: Bool) throws -> Basket {
        let rows = try db.execute(
            """
            SELECT id, terminal_id, employee_id, customer_id, customer_identifier, status, (extract(epoch FROM created_at) * 1000)::bigint
            FROM api_baskets WHERE id = $1\(lock ? " FOR UPDATE" : "")
            """, [.text(id)])
        guard !rows.rows.isEmpty else { throw CheckoutError.notFound("no basket \(id)") }
        let lines = try db.execute(
            """
            SELECT l.line_id, l.product_id, p.name, l.quantity, l.unit_price_cents, l.tax_class, l.minimum_age, l.removed
            FROM api_basket_lines l JOIN api_products p ON p.id = l.product_id WHERE l.basket_id = $1 ORDER BY l.line_id
            """, [.text(id)])
        return Basket(
            id: try rows.required(0, 0), terminalId: try rows.required(0, 1), employeeId: Int(rows.int(0, 2) ?? 0), customerId: rows.text(0, 3),
            customerIdentifier: rows.text(0, 4), status: Basket.Status(rawValue: try rows.required(0, 5)) ?? .open,
            lines: try (0..<lines.rows.count).map { row in
                BasketLine(
                    lineId: Int(lines.int(row, 0) ?? 0), productId: try lines.required(row, 1), productName: try lines.required(row, 2),
                    quantity: Int(lines.int(row, 3) ?? 0), unitPriceCents: Int(lines.int(row, 4) ?? 0), taxClass: try lines.required(row, 5),
                    minimumAge: lines.int(row, 6).map { Int($0) }, removed: lines.bool(row, 7) ?? false)
            },
            createdAtMilliseconds: rows.int(0, 6) ?? 0)
    }

    /// The basket, if `principal` may see it (their terminal's, or any for a manager).
    public func basket(_ id: String, for principal: Principal) async throws -> Basket {
        let id = try Validate.basketId(id)
        let basket = try await database.run { db in try Self.load(db, id, lock: false) }
        try Self.authorise(principal, basket, changing: false)
        return basket
    }

    /// Open baskets of an employee (a cashier sees only their own).
    public func active(employeeId: Int?, for principal: Principal) async throws -> [Basket] {
        let employee = employeeId ?? principal.employeeId
        if employee != principal.employeeId { try principal.require(.manager, to: "seeing another employee's baskets") }
        return try await database.run { db in
            let ids = try db.execute("SELECT id FROM api_baskets WHERE employee_id = $1 AND status = 'OPEN' ORDER BY created_at", [.text(String(employee))])
            return try (0..<ids.rows.count).map { try Self.load(db, try ids.required($0, 0), lock: false) }
        }
    }

    static func authorise(_ principal: Principal, _ basket: Basket, changing: Bool) throws {
        if principal.role >= .manager { return }
        guard basket.terminalId == principal.terminalId else {
            throw CheckoutError(.forbidden, "basket \(basket.id) belongs to terminal \(basket.terminalId); this session is on \(principal.terminalId)")
        }
        if changing, basket.status != .open { throw CheckoutError(.conflict, "basket \(basket.id) is \(basket.status.rawValue.lowercased()); start a new one") }
    }

    /// Locks the basket, checks it may be changed, runs `change` (which updates the rows and
    /// the basket value alike, so it is not read again), appends its events.
    private func change(
        _ id: String, by principal: Principal, _ body: @escaping @Sendable (PostgresConnection, inout Basket) throws -> ([CheckoutEvent], BasketLine?)
    ) async throws -> Change {
        let id = try Validate.basketId(id)
        let (rows, basket, line) = try await database.transaction { db -> ([Outbox.Row], Basket, BasketLine?) in
            var basket = try Self.load(db, id, lock: true)
            try Self.authorise(principal, basket, changing: true)
            if basket.status != .open { throw CheckoutError(.conflict, "basket \(id) is \(basket.status.rawValue.lowercased()); start a new one") }
            let (events, line) = try body(db, &basket)
            let rows = try Outbox.append(events, in: db)
            return (rows, basket, line)
        }
        let positions = await outbox.publish(rows).compactMap { $0 }
        return Change(basket: basket, positions: positions, line: line)
    }

    // MARK: Changing

    public func start(by principal: Principal, terminalId: String?, employeeId: Int?, customer: Customer?, customerIdentifier: String?) async throws -> Change {
        let terminal = try terminalId.map(Validate.terminalId) ?? principal.terminalId
        if terminal != principal.terminalId { try principal.require(.manager, to: "starting a basket on another terminal") }
        let employee = employeeId ?? principal.employeeId
        if employee != principal.employeeId { try principal.require(.manager, to: "starting a basket for another employee") }
        if let customerIdentifier, customerIdentifier.utf8.count > 256 || customerIdentifier.containsControlCharacter {
            throw CheckoutError.badInput("a customer identifier is at most 256 characters")
        }
        let id = "basket_" + String(Tokens.make().lowercased().filter { $0.isHexDigit }.prefix(8)) + String(CheckoutClock.nowMilliseconds() % 1_000_000, radix: 36)
        let rows = try await database.transaction { db -> [Outbox.Row] in
            let known = try db.execute("SELECT 1 FROM api_employees WHERE id = $1 AND active", [.text(String(employee))])
            guard !known.rows.isEmpty else { throw CheckoutError.notFound("no employee \(employee)") }
            try db.execute(
                "INSERT INTO api_baskets (id, terminal_id, employee_id, customer_id, customer_identifier, status) VALUES ($1, $2, $3, $4, $5, 'OPEN')",
                [.text(id), .text(terminal), .text(String(employee)), customer.map { .text($0.id) } ?? .null, customerIdentifier.map { .text($0) } ?? .null])
            var payload: [String: JSONValue] = ["basket_id": .string(id), "terminal_id": .string(terminal), "employee_id": .number(Double(employee))]
            if let customerIdentifier, !customerIdentifier.isEmpty { payload["customer_identifier"] = .string(customerIdentifier) }
            if let customer { payload["customer_id"] = .string(customer.id) }
            return try Outbox.append([CheckoutEvent(type: "BASKET_STARTED", terminalId: terminal, correlationId: id, payload: payload)], in: db)
        }
        let positions = await outbox.publish(rows).compactMap { $0 }
        let basket = try await database.run { db in try Self.load(db, id, lock: false) }
        return Change(basket: basket, positions: positions, line: nil)
    }

    /// Adds `quantity` of `product` at the catalogue's price (a client's price is never used).
    public func add(_ product: Product, quantity: Int, to basketId: String, by principal: Principal, verified: Bool = false) async throws -> Change {
        let quantity = try Validate.quantity(quantity)
        return try await change(basketId, by: principal) { db, basket in
            let next = try db.execute("UPDATE api_baskets SET next_line = next_line + 1 WHERE id = $1 RETURNING next_line - 1", [.text(basket.id)])
            let lineId = Int(next.int(0, 0) ?? 1)
            guard basket.lines.count < 500 else { throw CheckoutError.badInput("a basket holds at most 500 lines") }
            try db.execute(
                "INSERT INTO api_basket_lines (basket_id, line_id, product_id, quantity, unit_price_cents, tax_class, minimum_age) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [
                    .text(basket.id), .text(String(lineId)), .text(product.id), .text(String(quantity)), .text(String(product.priceCents)),
                    .text(product.taxClass), product.minimumAge.map { .text(String($0)) } ?? .null,
                ])
            var payload: [String: JSONValue] = [
                "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "product_id": .string(product.id),
                "product_name": .string(product.name), "quantity": .number(Double(quantity)), "price": Money.json(product.priceCents),
                "category": .string(product.category), "line_id": .number(Double(lineId)), "employee_id": .number(Double(principal.employeeId)),
            ]
            if let age = product.minimumAge {
                payload["minimum_age"] = .number(Double(age))
                payload["age_restricted"] = .bool(true)
            }
            let type = verified ? "VERIFIED_ITEM_ADDED" : "ITEM_ADDED"
            let line = BasketLine(
                lineId: lineId, productId: product.id, productName: product.name, quantity: quantity, unitPriceCents: product.priceCents,
                taxClass: product.taxClass, minimumAge: product.minimumAge, removed: false)
            basket.lines.append(line)
            return ([CheckoutEvent(type: type, terminalId: basket.terminalId, correlationId: basket.id, payload: payload)], line)
        }
    }

    /// Voids a line. Above `void_approval_cents` a manager's approval is required (and recorded).
    public func remove(line lineId: Int, from basketId: String, by principal: Principal, approver: Employee?) async throws -> Change {
        let threshold = config.voidApprovalCents
        return try await change(basketId, by: principal) { db, basket in
            guard let line = basket.lines.first(where: { $0.lineId == lineId && !$0.removed }) else {
                throw CheckoutError.notFound("basket \(basket.id) has no line \(lineId)")
            }
            if line.lineTotalCents > threshold, principal.role < .manager {
                guard let approver else {
                    throw CheckoutError(
                        .approvalRequired, "voiding \(line.productName) (\(Money.text(line.lineTotalCents))) needs a manager's approval above \(Money.text(threshold))",
                        details: ["threshold": Money.text(threshold)])
                }
                try db.execute(
                    "INSERT INTO api_approvals (kind, basket_id, requested_by, approver_employee_id, detail) VALUES ('VOID', $1, $2, $3, $4)",
                    [.text(basket.id), .text(String(principal.employeeId)), .text(String(approver.id)), .text("line \(lineId) \(line.productId) x\(line.quantity)")])
            }
            try db.execute("UPDATE api_basket_lines SET removed = true WHERE basket_id = $1 AND line_id = $2", [.text(basket.id), .text(String(lineId))])
            if let index = basket.lines.firstIndex(where: { $0.lineId == lineId }) { basket.lines[index].removed = true }
            var payload: [String: JSONValue] = [
                "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "product_id": .string(line.productId),
                "quantity": .number(Double(line.quantity)), "price": Money.json(line.unitPriceCents), "line_id": .number(Double(lineId)),
                "employee_id": .number(Double(principal.employeeId)),
            ]
            if let approver { payload["approved_by"] = .number(Double(approver.id)) }
            return ([CheckoutEvent(type: "ITEM_REMOVED", terminalId: basket.terminalId, correlationId: basket.id, payload: payload)], line)
        }
    }

    public func update(line lineId: Int, quantity: Int, in basketId: String, by principal: Principal) async throws -> Change {
        let quantity = try Validate.quantity(quantity)
        return try await change(basketId, by: principal) { db, basket in
            guard var line = basket.lines.first(where: { $0.lineId == lineId && !$0.removed }) else {
                throw CheckoutError.notFound("basket \(basket.id) has no line \(lineId)")
            }
            let previous = line.quantity
            try db.execute("UPDATE api_basket_lines SET quantity = $3 WHERE basket_id = $1 AND line_id = $2", [.text(basket.id), .text(String(lineId)), .text(String(quantity))])
            line.quantity = quantity
            if let index = basket.lines.firstIndex(where: { $0.lineId == lineId }) { basket.lines[index].quantity = quantity }
            let payload: [String: JSONValue] = [
                "basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "product_id": .string(line.productId),
                "quantity": .number(Double(quantity)), "previous_quantity": .number(Double(previous)), "price": Money.json(line.unitPriceCents),
                "line_id": .number(Double(lineId)),
            ]
            return ([CheckoutEvent(type: "ITEM_QUANTITY_UPDATED", terminalId: basket.terminalId, correlationId: basket.id, payload: payload)], line)
        }
    }

    public func identify(customer: Customer?, identifier: String, in basketId: String, by principal: Principal) async throws -> Change {
        guard !identifier.isEmpty, identifier.utf8.count <= 256, !identifier.containsControlCharacter else {
            throw CheckoutError.badInput("a customer identifier is 1 to 256 characters")
        }
        return try await change(basketId, by: principal) { db, basket in
            try db.execute(
                "UPDATE api_baskets SET customer_id = $2, customer_identifier = $3 WHERE id = $1",
                [.text(basket.id), customer.map { .text($0.id) } ?? .null, .text(identifier)])
            basket.customerId = customer?.id
            basket.customerIdentifier = identifier
            var payload: [String: JSONValue] = ["basket_id": .string(basket.id), "terminal_id": .string(basket.terminalId), "customer_identifier": .string(identifier)]
            if let customer { payload["customer_id"] = .string(customer.id) }
            return ([CheckoutEvent(type: "CUSTOMER_IDENTIFIED", terminalId: basket.terminalId, correlationId: basket.id, payload: payload)], nil)
        }
    }

    /// Publishes an event about a basket that changes no row of it (an age check, a
    /// recommendation answered, the subtotal announced), after the same checks as a change.
    public func record(_ type: String, payload: [String: JSONValue], in basketId: String, by principal: Principal, also: (@Sendable (PostgresConnection, Basket) throws -> Void)? = nil) async throws -> Change {
        try await change(basketId, by: principal) { db, basket in
            try also?(db, basket)
            var fields = payload
            fields["basket_id"] = .string(basket.id)
            fields["terminal_id"] = .string(basket.terminalId)
            return ([CheckoutEvent(type: type, terminalId: basket.terminalId, correlationId: basket.id, payload: fields)], nil)
        }
    }
}
