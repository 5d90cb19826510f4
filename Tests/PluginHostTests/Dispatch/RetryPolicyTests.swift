import Testing

@testable import PluginHost

@Suite struct RetryPolicyTests {
    @Test func backoffGrowsExponentiallyWithJitterAndIsCapped() {
        let policy = RetryPolicy(maxAttempts: 10, initialBackoffMilliseconds: 100, maxBackoffMilliseconds: 1_000)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let first = policy.backoffMilliseconds(afterAttempt: 1, using: &random)
            #expect((50...100).contains(first))
            let third = policy.backoffMilliseconds(afterAttempt: 3, using: &random)
            #expect((200...400).contains(third))
            let capped = policy.backoffMilliseconds(afterAttempt: 30, using: &random)
            #expect((500...1_000).contains(capped))
        }
        // Jitter really varies.
        let samples = Set((0..<50).map { _ in policy.backoffMilliseconds(afterAttempt: 4, using: &random) })
        #expect(samples.count > 5)
    }

    @Test func zeroBackoffAndAtLeastOneAttempt() {
        var random = SystemRandomNumberGenerator()
        let policy = RetryPolicy(maxAttempts: 0, initialBackoffMilliseconds: 0, maxBackoffMilliseconds: 0)
        #expect(policy.maxAttempts == 1)
        #expect(policy.backoffMilliseconds(afterAttempt: 5, using: &random) == 0)
    }
}
