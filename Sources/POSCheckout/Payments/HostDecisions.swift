import Foundation
import Logging
import NIOPosix
import POSPlatform

/// Asks pos-host for plugin answers over its control sockets (docs/pluginctl.md, command
/// `query` with `after` positions). The socket's file mode is the authentication: only the
/// host's user and group (pos-api's service user is in it) can connect. With several hosts,
/// each socket is asked in turn; a host that does not own the plugin's state right now says so
/// (`not_owner`) and the next one is asked.
public struct HostDecisions: DecisionSource {
    public let sockets: [String]
    let logger: Logger

    public init(sockets: [String], logger: Logger) {
        self.sockets = sockets
        self.logger = logger
    }

    public func ask(plugin: String, query: String, request: JSONValue, after positions: [PublishedPosition], waitMilliseconds: Int) async -> Result<JSONValue, DecisionFailure> {
        guard !sockets.isEmpty else { return .failure(.unavailable("no pos-host control socket is configured (api.host_sockets)")) }
        var body: [String: JSONValue] = [
            "command": .string("query"), "plugin": .string(plugin), "query": .string(query), "request": .string(request.jsonText),
            "wait_ms": .number(Double(waitMilliseconds)),
        ]
        if !positions.isEmpty {
            body["after"] = .array(positions.map { .object(["topic": .string($0.topic), "partition": .number(Double($0.partition)), "offset": .number(Double($0.offset))]) })
        }
        let line = Array((JSONValue.object(body).jsonText + "\n").utf8)
        let sockets = self.sockets
        let timeout = Int32(waitMilliseconds + 2000)
        let outcome: Result<JSONValue, DecisionFailure>
        do {
            outcome = try await NIOThreadPool.singleton.runIfActive { () -> Result<JSONValue, DecisionFailure> in
                // Until the deadline: a rebalance may leave no host owning the plugin for a moment.
                let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(waitMilliseconds) * 1_000_000
                var last = DecisionFailure.unavailable("no host answered")
                repeat {
                    var definitive = false
                    for socket in sockets {
                        let answer: JSONValue
                        do {
                            let fd = try UnixSocket.connect(path: socket, timeoutMilliseconds: 500)
                            defer { close(fd) }
                            try UnixSocket.writeAll(fd, line)
                            answer = try JSONValue.parse(UnixSocket.readLine(fd, limit: 16 << 20, timeoutMilliseconds: timeout))
                        } catch {
                            last = .unavailable("\(socket): \(error)")
                            continue
                        }
                        if answer["ok"] == .bool(true) {
                            guard let text = answer["answer"]?.stringValue, let value = try? JSONValue.parse(Array(text.utf8)) else {
                                return .failure(.refused("\(plugin) answered something that is not JSON"))
                            }
                            return .success(value)
                        }
                        let error = answer["error"]?.stringValue ?? "failed"
                        switch answer["code"]?.stringValue {
                        case "not_owner": last = .pending(error)
                        case "pending": return .failure(.pending(error))
                        case "not_running", "no_such_plugin", "busy":
                            definitive = true
                            last = .unavailable(error)
                        default: return .failure(.refused(error))
                        }
                    }
                    if definitive { break }
                    usleep(20_000)
                } while DispatchTime.now().uptimeNanoseconds < deadline
                return .failure(last)
            }
        } catch {
            outcome = .failure(.unavailable("\(error)"))
        }
        return outcome
    }

    /// The hosts' status (the first that answers), for the admin page.
    public func hostStatus() async -> JSONValue? {
        let sockets = self.sockets
        return try? await NIOThreadPool.singleton.runIfActive { () -> JSONValue? in
            for socket in sockets {
                guard let fd = try? UnixSocket.connect(path: socket, timeoutMilliseconds: 500) else { continue }
                defer { close(fd) }
                guard (try? UnixSocket.writeAll(fd, Array("{\"command\":\"status\"}\n".utf8))) != nil,
                    let line = try? UnixSocket.readLine(fd, limit: 16 << 20, timeoutMilliseconds: 3000), let value = try? JSONValue.parse(line)
                else { continue }
                return value["status"]
            }
            return nil
        }
    }
}
