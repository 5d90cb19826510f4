import Foundation
import Testing

@testable import PluginHost

/// pluginctl as docs/pluginctl.md promises: exit codes, JSON errors, global options before the
/// subcommand, and a working admin tool while config.yaml is broken.
@Suite struct PluginctlContractTests {
    func run(_ host: HostProcess, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestSupport.capture(TestSupport.product("pluginctl"), arguments, directory: host.directory)
    }

    @Test func exitCodesJSONErrorsAndGlobalOptions() throws {
        let host = try HostProcess(label: "ctl-contract")
        try host.start()
        defer { _ = host.terminate() }
        // 66: no such plugin, no such query; 65: a request that is not JSON (no Swift error text).
        #expect(try host.pluginctl("query", "nope", "basket").status == 66)
        #expect(try host.pluginctl("restart", "nope").status == 66)
        let unknownQuery = try host.pluginctl("query", "basket_tally", "nosuch")
        #expect(unknownQuery.status == 66 && unknownQuery.output.contains("unknown query"), "\(unknownQuery.output)")
        let badJSON = try host.pluginctl("query", "basket_tally", "basket", "{oops")
        #expect(badJSON.status == 65 && badJSON.output.contains("not JSON") && !badJSON.output.contains("DecodingError"), "\(badJSON.output)")
        #expect(try host.pluginctl("query", "basket_tally", "basket", #"{"basket_id": "b1"}"#).status == 0)
        // 66 for removing a setting that is not there; -1 is a value, not an option.
        #expect(try host.pluginctl("config", "unset", "basket_tally", "no_such_key").status == 66)
        let negative = try host.pluginctl("config", "set", "basket_tally", "large_basket_threshold", "-1")
        #expect(!negative.output.contains("Unknown option"), "\(negative.output)")

        // Global options before the subcommand, and JSON errors on stdout with --json.
        let status = try run(host, ["--config", host.configPath, "--json", "status"])
        #expect(status.status == 0)
        #expect((try? JSONDecoder().decode(HostStatus.self, from: Data(status.output.utf8))) != nil, "\(status.output)")
        let nested = try run(host, ["--config", host.configPath, "config", "get", "basket_tally", "currency"])
        #expect(nested.status == 0 && nested.output.contains("USD"), "\(nested.output)")
        let error = try run(host, ["--json", "--config=\(host.configPath)", "query", "nope", "basket"])
        #expect(error.status == 66)
        let line = try #require(error.output.split(separator: "\n").first { $0.hasPrefix("{") })
        let object = try JSONValue.parse(String(line))
        #expect(object["exit_code"] == .number(66) && object["error"]?.stringValue?.contains("nope") == true)

        // A restart the trust check refuses keeps the running worker.
        chmod(host.plugins, 0o775)
        let refused = try host.pluginctl("restart", "event_counter")
        chmod(host.plugins, 0o755)
        #expect(refused.status == 70 && refused.output.contains("the running instance is kept"), "\(refused.output)")
        #expect(try host.plugin("event_counter")?.state == .running)

        // A broken config.yaml: the host keeps its last good one, pluginctl still reaches it.
        let good = try String(contentsOfFile: host.configPath, encoding: .utf8)
        TestSupport.write(good + "dispatch:\n  lanes: lots\n", to: host.configPath)
        let broken = try host.pluginctl("status")
        #expect(broken.status == 0 && broken.output.contains("basket_tally") && broken.output.contains("warning"), "\(broken.output)")
        TestSupport.write(good, to: host.configPath)
    }
}
