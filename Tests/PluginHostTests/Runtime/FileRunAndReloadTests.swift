import Foundation
import Testing

@testable import PluginHost

/// What a plugin author meets first: `pos-host --events FILE` and hand edits of a settings
/// file. Each test is one of the rough edges a third-party author reported (issue 15).
@Suite(.serialized, .timeLimit(.minutes(10))) struct FileRunAndReloadTests {
    static let payment = #"{"event_type": "PAYMENT_PROCESSED", "timestamp": "2026-11-25T09:05:00Z", "event_id": "pay-1", "basket_id": "basket_1", "amount": 2.5, "payment_method": "cash"}"#

    @Test func aFileRunWithTheShippedKafkaSectionTouchesNoKafkaAndKeepsWhatItProduces() throws {
        let host = try HostProcess(
            label: "file-run-kafka",
            configText: """
                plugins_dir: plugins.d
                control_socket: run/host.sock
                dead_letter_file: var/dlq.jsonl
                emitted_events_file: var/emitted.jsonl
                log_level: debug
                kafka:
                  bootstrap_servers: embedded
                  topics: [pos-events]

                """)
        try host.start()
        host.send([HostProcess.itemAdded(1), HostProcess.itemAdded(2), Self.payment, #"{"event_type": "NOT_A_TYPE", "basket_id": "b"}"#])
        #expect(host.finish() == 0)
        #expect(host.log.contains("the kafka section of config.yaml is not used"), "\(host.log)")
        #expect(!host.log.contains("embedded Kafka cluster started"))
        let emitted = (try? String(contentsOfFile: host.directory + "/var/emitted.jsonl", encoding: .utf8)) ?? ""
        #expect(emitted.contains("BASKET_TOTALLED"), "what plugins emit is kept in emitted_events_file: \(emitted)")
        let dead = (try? String(contentsOfFile: host.directory + "/var/dlq.jsonl", encoding: .utf8)) ?? ""
        #expect(dead.contains("NOT_A_TYPE"), "dead letters are kept in dead_letter_file: \(dead)")
    }

    @Test func aFileRunRoutesWhatPluginsEmitToTheirSubscribers() throws {
        let host = try HostProcess(label: "file-run-loopback")
        try host.start()
        host.send([HostProcess.itemAdded(1), HostProcess.itemAdded(2), Self.payment])
        // event_counter takes every type, so it sees the BASKET_TOTALLED basket_tally emitted,
        // as it would on Kafka; basket_tally never receives its own event.
        #expect(TestSupport.eventually(within: 10) {
            (try? host.pluginctl("query", "event_counter", "counts").output)?.contains(#""BASKET_TOTALLED":1"#) == true
        }, "\(host.log)")
        #expect(try host.plugin("basket_tally")?.metrics.received == 3)
        #expect(host.finish() == 0)
    }

    @Test func aFileRunExitsSeventyWhenAnEnabledPluginFailedAndSaysWhy() throws {
        let host = try HostProcess(label: "file-run-failed")
        TestSupport.write("enabled: true\nlibrary: missing.so\n", to: host.plugins + "/ghost.yaml")
        host.expectingFailure = true
        try host.start()
        host.send([HostProcess.itemAdded(1)])
        #expect(host.finish() == 70)
        #expect(host.log.contains("  ghost: failed, handled nothing:"), "the summary names the plugin that never ran: \(host.log.suffix(1500))")
        #expect(host.log.contains("  event_counter: 1 handled"))
    }

    @Test func oneConfigSetIsOneGeneration() throws {
        let host = try HostProcess(label: "one-generation")
        try host.start()
        let before = try host.status().configGeneration
        #expect(try host.pluginctl("config", "set", "event_counter", "fail_first_attempts", "1").status == 0)
        // The file watcher sees the write too; give it time to have fired.
        usleep(700_000)
        #expect(try host.status().configGeneration == before + 1)
        // The same settings again change nothing: no new generation.
        _ = try host.pluginctl("reload")
        #expect(try host.status().configGeneration == before + 1)
        #expect(host.finish() == 0)
    }

    @Test func aRefusedHandEditNamesItsLineAndClearsWhenTheFileIsFixed() throws {
        let host = try HostProcess(label: "refused-edit")
        try host.start()
        let file = host.plugins + "/event_counter.yaml"
        let good = try String(contentsOfFile: file, encoding: .utf8)
        // A hand edit the schema refuses (reject_type is at most 64 characters).
        TestSupport.write(good + "settings:\n  reject_type: \"\(String(repeating: "X", count: 80))\"\n", to: file)
        _ = try host.pluginctl("reload")
        let refused = try #require(try host.plugin("event_counter"))
        #expect(refused.state == .running, "the previous settings keep running")
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false).count
        #expect(refused.lastError?.contains("event_counter.yaml:\(lines + 1):3: /reject_type: must be at most 64 characters") == true, "\(refused.lastError ?? "no error")")
        #expect(host.log.contains("event_counter: change refused, previous settings still running"), "\(host.log.suffix(2000))")
        #expect(!host.log.contains("event_counter: failed"))
        TestSupport.write(good, to: file)
        _ = try host.pluginctl("reload")
        #expect(try host.plugin("event_counter")?.lastError == nil, "the error went with the edit that caused it")
        #expect(host.finish() == 0)
    }

    @Test func aChangeOnlyARestartAppliesIsLoggedAsSuch() throws {
        let host = try HostProcess(label: "restart-only")
        try host.start()
        let config = try String(contentsOfFile: host.configPath, encoding: .utf8)
        TestSupport.write(config + "events:\n  unknown_types: accept\n", to: host.configPath)
        _ = try host.pluginctl("reload")
        #expect(TestSupport.eventually(within: 5) {
            host.log.contains("events.unknown_types changed from reject to accept: takes effect when pos-host restarts")
        }, "\(host.log.suffix(2000))")
        #expect(host.finish() == 0)
    }

    @Test(arguments: ["inprocess", "process"])
    func theSizeLimitsHoldInEitherIsolation(_ isolation: String) throws {
        let host = try HostProcess(label: "limits-\(isolation)")
        _ = try TestSupport.compilePlugin("Tests/Fixtures/plugins/limits_probe.c", output: host.plugins + "/limits_probe.so")
        TestSupport.write("enabled: true\nisolation: \(isolation)\n", to: host.plugins + "/limits_probe.yaml")
        try host.start()
        host.send([HostProcess.itemAdded(1)])
        let expected = "key_over=E key_at=O value_over=E value_at=O emit_over=E emit_at=O"
        #expect(TestSupport.eventually(within: 10) {
            (try? host.pluginctl("query", "limits_probe", "result").output)?.contains(expected) == true
        }, "\((try? host.pluginctl("query", "limits_probe", "result").output) ?? "") \(host.log.suffix(2000))")
        #expect(host.log.contains("state_put refused: state key of 1025 bytes is over the limit of 1024 bytes"))
        #expect(host.finish() == 0)
    }

    @Test func queryExitCodesTellTheCausesApart() throws {
        let host = try HostProcess(label: "query-codes")
        try host.start()
        #expect(try host.pluginctl("query", "basket_tally", "basket", #"{"basket_id": "b1"}"#).status == 0)
        #expect(try host.pluginctl("query", "basket_tally", "no_such_query").status == 66, "unknown query")
        #expect(try host.pluginctl("query", "no_such_plugin", "basket").status == 66, "unknown plugin")
        let failed = try host.pluginctl("query", "basket_tally", "basket", #"{"wrong": 1}"#)
        #expect(failed.status == 70, "the plugin's query failed: \(failed.output)")
        #expect(try host.pluginctl("disable", "basket_tally").status == 0)
        let stopped = try host.pluginctl("query", "basket_tally", "basket", #"{"basket_id": "b1"}"#)
        #expect(stopped.status == 69 && stopped.output.contains("not running"), "\(stopped.output)")
        #expect(host.finish() == 0)
    }
}
