/// What an employee may do. Each role includes the ones before it.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    case cashier = "CASHIER"
    case manager = "MANAGER"
    case admin = "ADMIN"

    private var rank: Int {
        switch self {
        case .cashier: 0
        case .manager: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The signed-in employee behind a request.
public struct Principal: Sendable, Equatable {
    public let employeeId: Int
    public let username: String
    public let role: Role
    public let terminalId: String
    public let tokenHash: [UInt8]

    /// Throws FORBIDDEN unless the employee has at least `role`.
    public func require(_ role: Role, to action: String) throws(CheckoutError) {
        guard self.role >= role else {
            throw CheckoutError(.forbidden, "\(action) needs the \(role.rawValue) role; \(username) is \(self.role.rawValue)")
        }
    }
}
