import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves the control protocol on a Unix socket (mode 0660: the host's user and group may
/// administer it). Commands are handled one at a time on a dedicated thread (serialising them
/// makes reloads race-free), except plugin queries, which run beside each other: pos-api asks
/// them at every payment, and one may wait for a plugin to catch up.
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
            acceptOne(client)
        }
    }

    /// Queries run beside each other (one may wait for a plugin to catch up, for a decision at
    /// the till); everything else is serialised on the accept thread.
    private let queries = DispatchQueue(label: "pos-host.control.queries", attributes: .concurrent)
    private let queriesInFlight = DispatchSemaphore(value: 32)

    private func acceptOne(_ client: Int32) {
        let request: ControlRequest
        do {
            let line = try UnixSocket.readLine(client, limit: 1 << 20, timeoutMilliseconds: 5_000)
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            respond(client, ControlResponse(ok: false, error: "bad request: \(error)"))
            close(client)
            return
        }
        guard request.command == .query else {
            respond(client, handler(request))
            close(client)
            return
        }
        guard queriesInFlight.wait(timeout: .now()) == .success else {
            respond(client, ControlResponse(ok: false, error: "too many queries in flight; try again", code: "busy"))
            close(client)
            return
        }
        queries.async { [self] in
            defer {
                close(client)
                queriesInFlight.signal()
            }
            respond(client, handler(request))
        }
    }

    private func respond(_ client: Int32, _ response: ControlResponse) {
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
