import Foundation
import Synchronization

@testable import PluginHost

#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP server on 127.0.0.1 standing in for the customer directory: answers each request
/// with what `respond` says (status, body, delay) and counts requests per path.
final class TestHTTPServer: @unchecked Sendable {
    // @unchecked: `listener` is written once in init; counts are behind a mutex.
    struct Reply: Sendable {
        var status: Int
        var body: String
        var delayMilliseconds: Int = 0
        /// Keeps the connection open this long after the response (as servers that keep even
        /// HTTP/1.0 connections alive do).
        var holdOpenMilliseconds: Int = 0
    }

    let port: UInt16
    private let listener: Int32
    private let counts = Mutex<[String: Int]>([:])
    private let respond: @Sendable (String) -> Reply

    init(respond: @escaping @Sendable (String) -> Reply) throws {
        self.respond = respond
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var reuse: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 16) == 0 else {
            port = 0
            throw HostError("test HTTP server cannot listen")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = UInt16(bigEndian: actual.sin_port)
        let fd = listener
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    var endpoint: String { "http://127.0.0.1:\(port)/customers" }

    func requests(_ path: String) -> Int { counts.withLock { $0[path] ?? 0 } }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
            let count = recv(client, &buffer, buffer.count, 0)
            if count <= 0 { return }
            request.append(contentsOf: buffer[0..<count])
        }
        let line = String(decoding: request, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let path = line.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        counts.withLock { $0[path, default: 0] += 1 }
        let reply = respond(path)
        if reply.delayMilliseconds > 0 { usleep(UInt32(reply.delayMilliseconds) * 1000) }
        let text = "HTTP/1.0 \(reply.status) X\r\nContent-Type: application/json\r\nContent-Length: \(reply.body.utf8.count)\r\n\r\n\(reply.body)"
        _ = text.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        if reply.holdOpenMilliseconds > 0 { usleep(UInt32(reply.holdOpenMilliseconds) * 1000) }
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
