import PluginSDK

enum Severity: String, Codable, Sendable {
    case LOW, MEDIUM, HIGH
}

/// One rule's knobs. `threshold` and `window_seconds` mean what each rule's docs say.
struct RuleSettings: Codable, Sendable {
    var enabled: Bool
    var severity: Severity
    var windowSeconds: Double
    var threshold: Double
}

/// Every rule by name (named properties, not a dictionary: JSONDecoder's snake-case strategy
/// would rewrite dictionary keys).
struct Rules: Codable, Sendable {
    var multipleTerminals: RuleSettings
    var rapidItems: RuleSettings
    var highValuePayment: RuleSettings
    var anonymousPayment: RuleSettings
    var rapidCheckout: RuleSettings
    var excessiveVoids: RuleSettings
    var voidRatio: RuleSettings
    var priceOverride: RuleSettings
    var employeeVoidRate: RuleSettings
}

struct FraudSettings: Decodable, Sendable {
    var rules: Rules
    /// Score at which payment needs a supervisor's review, and at which it is refused.
    var reviewAt: Double
    var blockAt: Double
    /// Points a fired rule adds to its basket's score, by severity.
    var severityPoints: SeverityPoints

    struct SeverityPoints: Decodable, Sendable {
        var low: Double
        var medium: Double
        var high: Double
        func points(_ severity: Severity) -> Double {
            switch severity {
            case .LOW: low
            case .MEDIUM: medium
            case .HIGH: high
            }
        }
    }

    init(_ settings: PluginSettings) throws {
        self = try settings.decode(FraudSettings.self)
        guard reviewAt <= blockAt else { throw PluginError.invalidSettings("review_at (\(reviewAt)) must not exceed block_at (\(blockAt))") }
    }

    /// (name, severity, window s, threshold): the original's five, then four more.
    static let ruleDefaults: [(String, Severity, Double, Double)] = [
        ("multiple_terminals", .HIGH, 300, 2),
        ("rapid_items", .MEDIUM, 60, 10),
        ("high_value_payment", .HIGH, 600, 1000),
        ("anonymous_payment", .MEDIUM, 0, 500),
        ("rapid_checkout", .LOW, 30, 30),
        ("excessive_voids", .MEDIUM, 0, 3),
        ("void_ratio", .HIGH, 0, 0.5),
        ("price_override", .MEDIUM, 0, 0.3),
        ("employee_void_rate", .HIGH, 3600, 10),
    ]

    static let defaults: String = {
        let rules = ruleDefaults.map { name, severity, window, threshold in
            #""\#(name)": {"enabled": true, "severity": "\#(severity.rawValue)", "window_seconds": \#(Int(window)), "threshold": \#(threshold)}"#
        }.joined(separator: ", ")
        return #"{"rules": {\#(rules)}, "review_at": 30, "block_at": 60, "severity_points": {"low": 10, "medium": 25, "high": 50}}"#
    }()

    static let schema: String = {
        let rule = #"{"type": "object", "properties": {"enabled": {"type": "boolean"}, "severity": {"enum": ["LOW", "MEDIUM", "HIGH"]}, "window_seconds": {"type": "number", "minimum": 0}, "threshold": {"type": "number", "minimum": 0}}, "additionalProperties": false}"#
        let rules = ruleDefaults.map { #""\#($0.0)": \#(rule)"# }.joined(separator: ", ")
        let number = #"{"type": "number", "minimum": 0, "maximum": 1000}"#
        return #"{"type": "object", "properties": {"rules": {"type": "object", "properties": {\#(rules)}, "additionalProperties": false}, "review_at": \#(number), "block_at": \#(number), "severity_points": {"type": "object", "properties": {"low": \#(number), "medium": \#(number), "high": \#(number)}, "additionalProperties": false}}, "additionalProperties": false}"#
    }()
}
