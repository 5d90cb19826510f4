import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves the control protocol on a Unix socket (mode 0660: the host's user and group may
/// administer it). Connections are handled one at a time on a dedicated thread: control
/// traffic is a few requests per minute, and serialising them makes reloads race-free.
///
/// Hand-written over POSIX sockets rather than SwiftNIO: it is ~150 lines, and keeps the
/// host and pluginctl free of an event-loop runtime (docs/adr/0005-control-socket.md).
public final class ControlServer: @unchecked Sendable {
    // @unchecked: `listener` and `poller` are written in start() before the thread starts.
    public let path: String
    private let handler: @Sendable (ControlRequest) -> ControlResponse
    private let logger: Logger
    private var listener: Int32 = -1
    private var poller: PollingThread?

    public init(path: String, logger: Logger, handler: @escaping @Sendable (ControlRequest) -> ControlResponse) {
        self.path = path
        self.logger = logger
        self.handler = handler
    }

    /// Binds the socket. Refuses to start when another host answers on it; removes a stale one.
    public func start() throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        if FileManager.default.fileExists(atPath: path) {
            if let probe = try? UnixSocket.connect(path: path, timeoutMilliseconds: 200) {
                close(probe)
                throw HostError("another pos-host is already serving \(path); stop it first or set control_socket to another path")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError("socket failed: \(String(cString: strerror(errno)))") }
        var address = try UnixSocket.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw HostError("cannot bind control socket \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o660)
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw HostError("listen on \(path) failed: \(String(cString: strerror(errno)))")
        }
        listener = fd
        let poller = try PollingThread()
        self.poller = poller
        poller.start { [self] poller in self.acceptLoop(poller) }
    }

    private func acceptLoop(_ poller: PollingThread) {
        while poller.wait(for: listener, timeoutMilliseconds: -1) != nil {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serve(client)
            close(client)
        }
    }

    private func serve(_ client: Int32) {
        let response: ControlResponse
        do {
            let line = try UnixSocket.readLine(client, limit: 1 << 20, timeoutMilliseconds: 5_000)
            let request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
            response = handler(request)
        } catch {
            response = ControlResponse(ok: false, error: "bad request: \(error)")
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var bytes = Array(try encoder.encode(response))
            bytes.append(0x0a)
            try UnixSocket.writeAll(client, bytes)
        } catch {
            logger.warning("control response not sent: \(error)")
        }
    }

    public func stop() {
        guard let poller else { return }
        poller.stop()
        self.poller = nil
        close(listener)
        unlink(path)
    }
}

/// Small blocking helpers over Unix stream sockets, shared by the server and the client.
public enum UnixSocket {
    static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw HostError("socket path is longer than \(capacity - 1) bytes: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        return address
    }

    /// Connects, failing after `timeoutMilliseconds` if the server does not accept.
    public static func connect(path: String, timeoutMilliseconds: Int32) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError("socket failed: \(String(cString: strerror(errno)))") }
        var address = try address(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HostError("cannot connect to \(path): \(reason)")
        }
        return fd
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw HostError("write failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Reads up to the first newline (excluded), or EOF.
    public static func readLine(_ fd: Int32, limit: Int, timeoutMilliseconds: Int32) throws -> [UInt8] {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMilliseconds) * 1_000_000
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { throw HostError("timed out after \(timeoutMilliseconds) ms waiting for an answer") }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw HostError("read failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return line }
            if let newline = chunk[..<count].firstIndex(of: 0x0a) {
                line.append(contentsOf: chunk[..<newline])
                return line
            }
            line.append(contentsOf: chunk[..<count])
            guard line.count <= limit else { throw HostError("answer longer than \(limit) bytes") }
        }
    }
}

/// The client side: one request, one response.
public enum ControlClient {
    public static func send(_ request: ControlRequest, socketPath: String, timeoutMilliseconds: Int32) throws -> ControlResponse {
        let fd = try UnixSocket.connect(path: socketPath, timeoutMilliseconds: timeoutMilliseconds)
        defer { close(fd) }
        var bytes = Array(try JSONEncoder().encode(request))
        bytes.append(0x0a)
        try UnixSocket.writeAll(fd, bytes)
        let line = try UnixSocket.readLine(fd, limit: 64 << 20, timeoutMilliseconds: timeoutMilliseconds)
        guard !line.isEmpty else { throw HostError("the host closed the connection without answering") }
        return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
    }
}
