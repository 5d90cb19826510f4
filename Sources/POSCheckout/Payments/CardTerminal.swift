/// What a card payment provider answers.
public enum CardOutcome: Sendable, Equatable {
    case approved(reference: String)
    case declined(reason: String)
    /// No answer in time: the charge may or may not have happened. A retry with the same
    /// idempotency key asks the provider again, which answers for the first attempt.
    case timedOut
}

/// A card payment provider (a terminal, a gateway). Every charge carries the payment's
/// idempotency key, so that a provider never charges one key twice: the contract every real
/// provider (Stripe, Square, Adyen) offers.
public protocol PaymentProvider: Sendable {
    func charge(amountCents: Int, idempotencyKey: String, reference: String) async -> CardOutcome
}

/// A simulated card terminal, by configurable rules: amounts from `declineFromCents` are
/// declined ("insufficient funds"), from `timeoutFromCents` time out after
/// `timeoutMilliseconds`; the rest are approved. It remembers its answers by key.
public actor SimulatedCardTerminal: PaymentProvider {
    let declineFromCents: Int
    let timeoutFromCents: Int
    let timeoutMilliseconds: Int
    private var answered: [String: CardOutcome] = [:]
    private var sequence = 0

    public init(declineFromCents: Int, timeoutFromCents: Int, timeoutMilliseconds: Int) {
        self.declineFromCents = declineFromCents
        self.timeoutFromCents = timeoutFromCents
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public func charge(amountCents: Int, idempotencyKey: String, reference: String) async -> CardOutcome {
        if let earlier = answered[idempotencyKey], earlier != .timedOut { return earlier }
        if amountCents >= timeoutFromCents {
            try? await Task.sleep(nanoseconds: UInt64(timeoutMilliseconds) * 1_000_000)
            return .timedOut
        }
        let outcome: CardOutcome
        if amountCents >= declineFromCents {
            outcome = .declined(reason: "insufficient funds")
        } else {
            sequence += 1
            outcome = .approved(reference: "SIM-\(reference)-\(sequence)")
        }
        answered[idempotencyKey] = outcome
        return outcome
    }
}
