import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Serves `GET /metrics` over HTTP/1.1 for Prometheus. One route, answered on one thread, each
/// connection closed after its answer; hand-written over POSIX sockets rather than pulling an
/// HTTP stack and its event loop into the host for a scrape every few seconds
/// (docs/adr/0008-metrics-endpoint.md).
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `listener` and `poller` are written in start() before the thread starts.
    public let address: String
    private let render: @Sendable () -> String
    private let logger: Logger
    private var listener: Int32 = -1
    private var poller: PollingThread?
    /// The port actually bound (differs from the configured one when that was 0).
    public private(set) var port: UInt16 = 0

    /// `address` is `host:port` (an IPv4 address; port 0 picks a free one).
    public init(address: String, logger: Logger, render: @escaping @Sendable () -> String) {
        self.address = address
        self.logger = logger
        self.render = render
    }

    public func start() throws {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let requested = UInt16(parts[1]) else { throw HostError("metrics_listen '\(address)' must be host:port, e.g. 127.0.0.1:9464") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError("socket failed: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = requested.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &socketAddress.sin_addr) == 1 else {
            close(fd)
            throw HostError("metrics_listen: '\(parts[0])' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &socketAddress) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HostError("cannot listen on \(address) for metrics: \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: actual.sin_port)
        listener = fd
        let poller = try PollingThread()
        self.poller = poller
        poller.start { [self] poller in
            while poller.wait(for: listener, timeoutMilliseconds: -1) != nil {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { continue }
                serve(client)
                close(client)
            }
        }
    }

    private func serve(_ client: Int32) {
        // Read the whole request head: closing with unread input would reset the connection
        // before the client has read the answer.
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while head.count < 16_384, !head.suffix(4).elementsEqual([13, 10, 13, 10]) && !head.suffix(2).elementsEqual([10, 10]) {
            var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 2_000) > 0 else { return }
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            head.append(contentsOf: chunk[..<count])
        }
        let line = String(decoding: head.prefix { $0 != 10 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = line.split(separator: " ")
        let (status, type, body): (String, String, String)
        if parts.count >= 2, parts[0] == "GET", parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render())
        } else {
            (status, type, body) = ("404 Not Found", "text/plain; charset=utf-8", "only GET /metrics is served here\n")
        }
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        try? UnixSocket.writeAll(client, Array(response.utf8))
    }

    public func stop() {
        guard let poller else { return }
        poller.stop()
        self.poller = nil
        close(listener)
    }
}
