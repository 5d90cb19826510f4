import Foundation
import Testing

@testable import PluginHost

@Suite(.serialized, .timeLimit(.minutes(10))) struct MetricsEndpointTests {
    /// A plain HTTP GET over TCP: what a Prometheus scrape sends.
    static func get(port: UInt16, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw HostError("cannot connect to the metrics port \(port)") }
        try UnixSocket.writeAll(fd, Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n".utf8))
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response.append(contentsOf: chunk[..<count])
        }
        return String(decoding: response, as: UTF8.self)
    }

    @Test func servesPrometheusMetricsAndRates() throws {
        let host = try HostProcess(
            label: "metrics",
            configText: "plugins_dir: plugins.d\ncontrol_socket: run/host.sock\ndead_letter_file: var/dlq.jsonl\nemitted_events_file: var/emitted.jsonl\nmetrics_listen: \"127.0.0.1:0\"\n")
        try host.start()
        host.send((0..<20).map { HostProcess.itemAdded($0) } + ["not json"])
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.handled) == 20 })
        let port = try #require(host.log.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("url=http://127.0.0.1:") }
            .flatMap { UInt16($0.split(separator: ":").last!.split(separator: "/").first!) })

        let metrics = try Self.get(port: port, path: "/metrics")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK\r\n") && metrics.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(metrics.contains(#"pos_plugin_events_handled_total{plugin="event_counter"} 20"#))
        #expect(metrics.contains(#"pos_plugin_events_received_total{plugin="basket_tally"} 20"#))
        #expect(metrics.contains(#"pos_plugin_counter_total{plugin="event_counter",name="events_counted"} 20"#))
        #expect(metrics.contains("pos_ingress_malformed_total 1"))
        #expect(metrics.contains("# TYPE pos_plugin_queue_depth gauge"))
        #expect(metrics.contains(#"pos_plugin_handler_latency_seconds{plugin="event_counter",quantile="0.99"}"#))
        // Counters keep counting across scrapes.
        host.send((20..<25).map { HostProcess.itemAdded($0) })
        #expect(TestSupport.eventually { (try? host.plugin("event_counter")?.metrics.handled) == 25 })
        #expect(try Self.get(port: port, path: "/metrics").contains(#"pos_plugin_events_handled_total{plugin="event_counter"} 25"#))
        #expect(try Self.get(port: port, path: "/").hasPrefix("HTTP/1.1 404 Not Found"))

        // pluginctl shows the handling rate once the sampler has two samples.
        #expect(TestSupport.eventually(within: 3) { (try? host.plugin("event_counter")?.handledPerSecond).flatMap { $0 } != nil })
        #expect(try host.pluginctl("status").output.contains("RATE/S"))
        #expect(host.finish() == 0)
    }
}
