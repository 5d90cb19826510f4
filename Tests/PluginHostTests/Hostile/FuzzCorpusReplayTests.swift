import Foundation
import Testing

/// Every fuzz target's seed corpus and every crash the fuzzer ever found
/// (Tests/Fuzz/regressions) replayed through an ordinary build of pos-fuzz: a decoder that
/// traps again fails here, without the fuzzer. scripts/fuzz runs the coverage-guided fuzzer.
@Suite struct FuzzCorpusReplayTests {
    static let targets = ["event", "json", "config", "schema", "worker-frame", "control-request", "aamva", "sdk-json", "payload-fields"]

    @Test(arguments: targets)
    func corpusAndRegressionsReplayWithoutACrash(target: String) throws {
        let root = TestSupport.packageRoot + "/Tests/Fuzz"
        let result = try TestSupport.capture(
            TestSupport.product("pos-fuzz"), [target, root + "/corpus/" + target, root + "/regressions/" + target],
            environment: ["SWIFT_BACKTRACE": "enable=no"])
        #expect(result.status == 0, "\(result.output)")
        let count = Int(result.output.split(separator: " ").dropFirst().first ?? "") ?? 0
        #expect(count > 0, "no inputs for \(target): \(result.output)")
    }
}
