/// How often and how patiently a dispatcher retries an event whose handler asked to retry.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all (the first delivery included) before the event is dead-lettered.
    public var maxAttempts: Int
    public var initialBackoffMilliseconds: Int
    public var maxBackoffMilliseconds: Int

    public init(maxAttempts: Int, initialBackoffMilliseconds: Int, maxBackoffMilliseconds: Int) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoffMilliseconds = max(0, initialBackoffMilliseconds)
        self.maxBackoffMilliseconds = max(self.initialBackoffMilliseconds, maxBackoffMilliseconds)
    }

    /// The wait after failed attempt `attempt` (1-based): exponential, capped, with "equal
    /// jitter" (half fixed, half random) so retries of many events do not move in lockstep but a
    /// retry never comes sooner than half the nominal delay.
    public func backoffMilliseconds(afterAttempt attempt: Int, using random: inout some RandomNumberGenerator) -> Int {
        let exponent = min(max(attempt - 1, 0), 30)
        let nominal = min(maxBackoffMilliseconds, initialBackoffMilliseconds << exponent)
        guard nominal > 1 else { return nominal }
        let half = nominal / 2
        return half + Int.random(in: 0...(nominal - half), using: &random)
    }
}
