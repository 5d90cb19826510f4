/// The catalog of event types: canonical names, the original system's names accepted as
/// aliases, field renames from the original shapes, and the fields each type requires.
/// docs/events.md documents the same catalog (a test keeps the two in step).
public struct EventCatalog: Sendable {
    public enum FieldKind: String, Sendable {
        case string, number, integer, boolean, object, array
        /// An id the original system sent either as a number or as text.
        case identifier

        public func accepts(_ value: JSONValue) -> Bool {
            switch (self, value) {
            case (.string, .string), (.boolean, .bool), (.object, .object), (.array, .array), (.number, .number): return true
            case (.integer, .number): return value.exactInteger != nil
            case (.identifier, .string(let text)): return !text.isEmpty
            case (.identifier, .number): return value.exactInteger != nil
            default: return false
            }
        }
    }

    public struct Field: Sendable {
        public let name: String
        public let kind: FieldKind
        public let required: Bool
    }

    public struct EventSpec: Sendable {
        public let type: String
        public let summary: String
        /// Names the original system used for this type.
        public let aliases: [String]
        public let fields: [Field]
        /// Original field name -> canonical field name.
        public let renames: [String: String]
    }

    public let specs: [EventSpec]
    private let byName: [String: EventSpec]

    public init(_ specs: [EventSpec]) {
        self.specs = specs
        var index: [String: EventSpec] = [:]
        for spec in specs {
            index[spec.type] = spec
            for alias in spec.aliases { index[alias] = spec }
        }
        byName = index
    }

    /// The spec for a canonical name or an alias.
    public func spec(for name: String) -> EventSpec? { byName[name] }

    /// Renames original fields and checks the payload of `spec`; returns the canonical payload
    /// or the reason it does not satisfy the type's schema. Unknown fields are kept (newer
    /// producers may add fields).
    public func normalise(_ payload: [String: JSONValue], as spec: EventSpec) -> Result<[String: JSONValue], EventRejection> {
        var fields = payload
        for (original, canonical) in spec.renames where fields[canonical] == nil {
            if let value = fields.removeValue(forKey: original) { fields[canonical] = value }
        }
        for field in spec.fields {
            switch fields[field.name] {
            case nil, .null?:
                if field.required { return .failure(.init(reason: "\(spec.type): missing required field '\(field.name)'")) }
            case let value?:
                if !field.kind.accepts(value) {
                    let expected = switch field.kind {
                    case .identifier: "an id (text, or a whole number within 2^53)"
                    case .integer: "a whole number within 2^53"
                    default: "of type \(field.kind.rawValue)"
                    }
                    return .failure(.init(reason: "\(spec.type): field '\(field.name)' must be \(expected), got \(Self.describe(value))"))
                }
                if let problem = Self.check(value, of: field) {
                    return .failure(.init(reason: "\(spec.type): field '\(field.name)' \(problem)"))
                }
            }
        }
        return .success(fields)
    }

    /// Ranges by field name, the same on every type that declares the field (docs/events.md).
    /// Amounts are never negative: a refund would be its own type with its own rule.
    public static let ranges: [String: ClosedRange<Double>] = [
        "quantity": 1...1_000_000, "price": 0...100_000_000, "amount": 0...100_000_000, "subtotal": 0...100_000_000,
        "total": 0...100_000_000, "customer_age": 0...150, "minimum_age": 0...150, "items": 0...1_000_000,
    ]
    /// The longest id and the longest other text a declared field may hold, in UTF-8 bytes.
    public static let maximumIdentifierBytes = 128
    public static let maximumTextBytes = 4096

    /// What is wrong with a value of the right type, or nil.
    public static func check(_ value: JSONValue, of field: Field) -> String? {
        switch value {
        case .number(let number):
            if let range = ranges[field.name], !range.contains(number) {
                return number < range.lowerBound
                    ? "must be at least \(JSONValue.number(range.lowerBound).jsonText), got \(value.jsonText.prefix(40))"
                    : "must be at most \(JSONValue.number(range.upperBound).jsonText), got \(value.jsonText.prefix(40))"
            }
            if field.kind == .identifier, number < 0 { return "must not be negative, got \(value.jsonText.prefix(40))" }
        case .string(let text):
            let isIdentifier = field.kind == .identifier || field.name.hasSuffix("_id")
            if isIdentifier, text.isEmpty { return "must not be empty" }
            let limit = isIdentifier ? maximumIdentifierBytes : maximumTextBytes
            if text.utf8.count > limit { return "is longer than \(limit) bytes (\(text.utf8.count))" }
            if isIdentifier, text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "contains a control character" }
        default:
            break
        }
        return nil
    }

    /// A value's type for an error message, with the value itself when it is short.
    public static func describe(_ value: JSONValue) -> String {
        switch value {
        case .number: "number \(value.jsonText.prefix(40))"
        case .bool, .null: "\(value.typeName) \(value.jsonText.prefix(40))"
        default: value.typeName
        }
    }
}

extension EventCatalog {
    private static func f(_ name: String, _ kind: FieldKind, required: Bool = true) -> Field { Field(name: name, kind: kind, required: required) }
    private static func optional(_ name: String, _ kind: FieldKind) -> Field { Field(name: name, kind: kind, required: false) }

    /// The POS events of catalog version 1.
    public static let standard = EventCatalog([
        EventSpec(type: "EMPLOYEE_LOGIN", summary: "An employee logged in on a terminal", aliases: ["employee.login"],
                  fields: [f("employee_id", .identifier), f("terminal_id", .string)], renames: [:]),
        EventSpec(type: "EMPLOYEE_LOGOUT", summary: "An employee logged out of a terminal", aliases: ["employee.logout"],
                  fields: [f("employee_id", .identifier), f("terminal_id", .string)], renames: [:]),
        EventSpec(type: "SESSION_TERMINATED", summary: "A terminal session was ended by the system (e.g. login elsewhere)", aliases: ["session.terminated"],
                  fields: [f("employee_id", .identifier), f("terminal_id", .string), optional("reason", .string)], renames: [:]),
        EventSpec(type: "BASKET_STARTED", summary: "A basket was opened", aliases: ["basket.started"],
                  fields: [f("basket_id", .string), f("terminal_id", .string), optional("employee_id", .identifier), optional("customer_identifier", .string)], renames: [:]),
        EventSpec(type: "CUSTOMER_IDENTIFIED", summary: "A customer identifier (phone, email, loyalty card) was given for a basket", aliases: ["customer.identified"],
                  fields: [f("basket_id", .string), f("customer_identifier", .string)], renames: [:]),
        EventSpec(type: "CUSTOMER_DATA_FETCHED", summary: "A customer profile was found for a basket", aliases: ["customer.data.fetched"],
                  fields: [optional("basket_id", .string), f("customer", .object)], renames: [:]),
        EventSpec(type: "ITEM_ADDED", summary: "A product was scanned into a basket", aliases: ["item.added"],
                  fields: [f("basket_id", .string), f("product_id", .string), optional("quantity", .integer), optional("price", .number), optional("product_name", .string)], renames: [:]),
        EventSpec(type: "ITEM_REMOVED", summary: "A product was removed (voided) from a basket", aliases: ["item.removed"],
                  fields: [f("basket_id", .string), f("product_id", .string), optional("quantity", .integer), optional("price", .number)], renames: [:]),
        EventSpec(type: "ITEM_QUANTITY_UPDATED", summary: "The quantity of a basket line changed", aliases: ["item.quantity.updated"],
                  fields: [f("basket_id", .string), f("product_id", .string), f("quantity", .integer)], renames: ["new_quantity": "quantity"]),
        EventSpec(type: "AGE_VERIFICATION_REQUIRED", summary: "Restricted items are held until the customer's age is verified", aliases: ["age.verification.required"],
                  fields: [f("basket_id", .string), optional("items", .array), optional("minimum_age", .integer)], renames: ["required_age": "minimum_age"]),
        EventSpec(type: "AGE_VERIFIED", summary: "A cashier verified the customer's age (typed in, or from a scanned ID)", aliases: ["age.verified"],
                  fields: [f("basket_id", .string), optional("customer_age", .integer), optional("verifier_employee_id", .identifier), optional("method", .string)],
                  renames: ["verification_method": "method"]),
        EventSpec(type: "AGE_VERIFICATION_COMPLETED", summary: "The age check passed; held items are released", aliases: ["age.verification.completed"],
                  fields: [f("basket_id", .string)], renames: [:]),
        EventSpec(type: "AGE_VERIFICATION_FAILED", summary: "The age check failed or payment was attempted without it", aliases: ["age.verification.failed"],
                  fields: [f("basket_id", .string), optional("reason", .string)], renames: [:]),
        EventSpec(type: "AGE_VERIFICATION_CANCELLED", summary: "The age check was cancelled; held items are dropped", aliases: ["age.verification.cancelled"],
                  fields: [f("basket_id", .string)], renames: [:]),
        EventSpec(type: "VERIFIED_ITEM_ADDED", summary: "A held restricted item was added after verification", aliases: ["verified.item.added"],
                  fields: [f("basket_id", .string), f("product_id", .string)], renames: [:]),
        EventSpec(type: "SUBTOTAL_FINALIZED", summary: "The basket's subtotal was finalised before payment", aliases: ["subtotal.finalized"],
                  fields: [f("basket_id", .string), optional("subtotal", .number)], renames: [:]),
        EventSpec(type: "PAYMENT_INITIATED", summary: "Payment of a basket started", aliases: ["payment.initiated"],
                  fields: [f("basket_id", .string), optional("amount", .number), optional("payment_method", .string)], renames: ["total_amount": "amount"]),
        EventSpec(type: "PAYMENT_PROCESSED", summary: "A basket was paid", aliases: ["payment.completed", "PAYMENT_COMPLETED"],
                  fields: [f("basket_id", .string), f("amount", .number), optional("payment_method", .string), optional("employee_id", .identifier)],
                  renames: ["total_amount": "amount"]),
        EventSpec(type: "FRAUD_ASSESSED", summary: "A basket's fraud risk score and decision at payment", aliases: ["fraud.assessed"],
                  fields: [f("basket_id", .string), optional("score", .number), optional("decision", .string), optional("reasons", .array)], renames: [:]),
        EventSpec(type: "FRAUD_ALERT", summary: "A fraud rule fired", aliases: ["fraud.alert"],
                  fields: [f("rule_id", .string), optional("severity", .string), optional("alert_id", .string), optional("basket_id", .string)],
                  renames: ["rule": "rule_id"]),
        EventSpec(type: "FRAUD_ALERT_ACKNOWLEDGED", summary: "A supervisor acknowledged a fraud alert", aliases: ["fraud.alert.acknowledged"],
                  fields: [f("alert_id", .string), optional("employee_id", .identifier), optional("note", .string)], renames: [:]),
        EventSpec(type: "RECOMMENDATION_SUGGESTED", summary: "Products recommended for a basket", aliases: ["recommendation.suggested"],
                  fields: [f("basket_id", .string), optional("recommendations", .array)], renames: [:]),
        EventSpec(type: "RECOMMENDATION_ACCEPTED", summary: "The cashier accepted a recommendation", aliases: ["recommendation.accepted"],
                  fields: [f("basket_id", .string), f("product_id", .string)], renames: [:]),
        EventSpec(type: "RECOMMENDATION_REJECTED", summary: "The cashier rejected a recommendation", aliases: ["recommendation.rejected"],
                  fields: [f("basket_id", .string), f("product_id", .string)], renames: [:]),
        EventSpec(type: "BASKET_CLOSED", summary: "A basket was closed (paid or abandoned)", aliases: ["basket.closed"],
                  fields: [f("basket_id", .string)], renames: [:]),
        EventSpec(type: "BASKET_TOTALLED", summary: "Running totals of a paid basket (example plugin basket_tally)", aliases: [],
                  fields: [f("basket_id", .string), f("items", .integer), f("total", .number)], renames: [:]),
    ])
}

/// Why an event was refused: a reason for people, which the dead-letter record carries.
public struct EventRejection: Error, Equatable, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
    public init(reason: String) { self.reason = reason }
}
