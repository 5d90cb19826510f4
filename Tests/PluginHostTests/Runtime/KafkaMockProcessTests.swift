import Foundation
import Testing

@testable import PluginHost

/// pos-kafka-mock: the mock cluster as its own process, reachable by other Kafka clients,
/// stopped cleanly by SIGTERM.
@Suite struct KafkaMockProcessTests {
    @Test func servesTopicsToOtherClientsAndStopsOnSIGTERM() throws {
        let directory = TestSupport.temporaryDirectory("kafka-mock")
        let addressFile = directory + "/address"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.product("pos-kafka-mock"))
        process.arguments = ["--topic", "orders:3", "--topic", "orders.dlq", "--address-file", addressFile]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        #expect(TestSupport.eventually(within: 10) { FileManager.default.fileExists(atPath: addressFile) })
        let address = try String(contentsOfFile: addressFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(address.hasPrefix("127.0.0.1:"))

        // An independent client (kcat) sees the topics and their partitions, and round-trips a message.
        let metadata = try TestSupport.run("/usr/bin/kcat", ["-b", address, "-L", "-t", "orders"])
        #expect(metadata.output.contains("topic \"orders\" with 3 partitions"), "\(metadata.output)")
        try TestSupport.run("/usr/bin/kcat", ["-b", address, "-P", "-t", "orders", "-p", "1"], input: "hello\n")
        let consumed = try TestSupport.run("/usr/bin/kcat", ["-b", address, "-C", "-t", "orders", "-p", "1", "-o", "beginning", "-c", "1", "-e", "-q"])
        #expect(consumed.output.contains("hello"))

        process.terminate()  // SIGTERM
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: addressFile))
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(printed == "bootstrap_servers=\(address)\n")
    }

    @Test func refusesBadTopicSpecifications() throws {
        let result = try TestSupport.capture(TestSupport.product("pos-kafka-mock"), ["--topic", "orders:0"])
        #expect(result.status == 64 && result.output.contains("partitions must be a number from 1 to 256"))
    }
}
