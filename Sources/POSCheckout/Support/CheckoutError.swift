/// An error a client can act on: a stable code (GraphQL `extensions.code`) and a sentence.
public struct CheckoutError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The codes clients switch on; docs/api.md lists when each is given.
    public enum Code: String, Sendable {
        case unauthenticated = "UNAUTHENTICATED"
        case forbidden = "FORBIDDEN"
        case notFound = "NOT_FOUND"
        case badUserInput = "BAD_USER_INPUT"
        case conflict = "CONFLICT"
        case decisionPending = "DECISION_PENDING"
        case paymentRefused = "PAYMENT_REFUSED"
        case rateLimited = "RATE_LIMITED"
        case approvalRequired = "APPROVAL_REQUIRED"
        case unavailable = "UNAVAILABLE"
        /// A subscription asked to resume from before the retention window: reload, then subscribe.
        case resumeTooOld = "RESUME_TOO_OLD"
        case internalError = "INTERNAL_SERVER_ERROR"
    }

    public let code: Code
    public let message: String
    /// Extra machine-readable facts (the server's total, the plugin's reason, ...).
    public let details: [String: String]

    public init(_ code: Code, _ message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { message }

    public static func badInput(_ message: String) -> CheckoutError { CheckoutError(.badUserInput, message) }
    public static func notFound(_ message: String) -> CheckoutError { CheckoutError(.notFound, message) }
}
