import Foundation
import GraphQL
import HummingbirdWebSocket
import Logging
import NIOCore
import POSPlatform

/// GraphQL over WebSocket in the graphql-transport-ws protocol (the graphql-ws library's, which
/// Apollo and urql speak): https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md.
/// Written here because no Swift package in the mirror speaks it (ADR 18).
enum GraphQLTransportWS {
    static let subprotocol = "graphql-transport-ws"

    /// The protocol's close codes.
    enum Close {
        static let badMessage = 4400
        static let unauthorised = 4401
        static let forbidden = 4403
        static let subprotocolNotAcceptable = 4406
        static let initTimeout = 4408
        static let duplicateId = 4409
        static let tooManyInits = 4429
        /// Not the protocol's: a client that fell `subscriber_buffer` messages behind (the
        /// registered "try again later"; graphql-ws clients reconnect, then resume with `after`).
        static let tooSlow = 1013
    }

    struct Environment: Sendable {
        let graphQL: GraphQLService
        let services: CheckoutServices
        let sessions: LiveSessions
        let address: String
        let headerToken: String?
        let offeredSubprotocol: Bool
    }

    static func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, channel: any Channel, _ environment: Environment, logger: Logger) async {
        let settings = environment.services.config.live
        let connection = LiveConnection(outbound: outbound, channel: channel, hub: environment.services.live, logger: logger)
        defer {
            connection.ended()
            environment.sessions.remove(connection)
        }
        guard environment.offeredSubprotocol else {
            await connection.close(Close.subprotocolNotAcceptable, "Subprotocol not acceptable: use \(subprotocol)")
            return
        }
        let acknowledged = AtomicFlag()
        let initTimer = Task {
            try? await Task.sleep(for: .milliseconds(settings.initTimeoutMilliseconds))
            if !Task.isCancelled, !acknowledged.isSet { await connection.close(Close.initTimeout, "Connection initialisation timeout") }
        }
        defer { initTimer.cancel() }
        var initReceived = false
        do {
            for try await frame in inbound.messages(maxSize: environment.services.config.maxBodyBytes) {
                guard case .text(let text) = frame else {
                    await connection.close(Close.badMessage, "Invalid message received: binary frames are not part of \(subprotocol)")
                    return
                }
                guard case .object(let fields)? = try? JSONValue.parse(Array(text.utf8)), let type = fields["type"]?.stringValue else {
                    await connection.close(Close.badMessage, "Invalid message received: not a JSON object with a type")
                    return
                }
                switch type {
                case "connection_init":
                    guard !initReceived else {
                        await connection.close(Close.tooManyInits, "Too many initialisation requests")
                        return
                    }
                    initReceived = true
                    if let payload = fields["payload"], payload != .null, payload.objectValue == nil {
                        await connection.close(Close.badMessage, "Invalid message received: connection_init payload must be an object")
                        return
                    }
                    guard let token = Self.token(fields["payload"]) ?? environment.headerToken else {
                        await connection.close(Close.forbidden, "Forbidden: connection_init carries no token (payload {\"Authorization\": \"Bearer ...\"})")
                        return
                    }
                    do {
                        let principal = try await environment.services.signIn.authenticate(token)
                        connection.signedIn(principal, token: token)
                        environment.sessions.add(connection)
                        acknowledged.set()
                        await connection.send(#"{"type":"connection_ack"}"#)
                    } catch {
                        await connection.close(Close.forbidden, "Forbidden: \((error as? CheckoutError)?.message ?? "the token could not be checked")")
                        return
                    }
                case "ping":
                    var pong: [String: JSONValue] = ["type": .string("pong")]
                    if let payload = fields["payload"], payload != .null { pong["payload"] = payload }
                    await connection.send(JSONValue.object(pong).jsonText)
                case "pong":
                    break
                case "subscribe":
                    guard acknowledged.isSet, let session = connection.session else {
                        await connection.close(Close.unauthorised, "Unauthorized")
                        return
                    }
                    guard let id = fields["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 128, case .object(let payload)? = fields["payload"],
                        let query = payload["query"]?.stringValue
                    else {
                        await connection.close(Close.badMessage, "Invalid message received: subscribe needs an id and payload.query")
                        return
                    }
                    var variables: [String: Map] = [:]
                    switch payload["variables"] {
                    case .none, .null?: break
                    case .object(let members)?: variables = members.mapValues(GraphQLMap.map)
                    default:
                        await connection.close(Close.badMessage, "Invalid message received: payload.variables must be an object")
                        return
                    }
                    if connection.has(id) {
                        await connection.close(Close.duplicateId, "Subscriber for \(id) already exists")
                        return
                    }
                    if connection.operationCount >= settings.maxSubscriptionsPerConnection {
                        let error = environment.graphQL.encodedError("at most \(settings.maxSubscriptionsPerConnection) operations per connection", code: "RATE_LIMITED")
                        await connection.send(message("error", id: id, payload: "[" + String(decoding: error, as: UTF8.self) + "]"))
                        continue
                    }
                    // Started before the next message is read, so a client's later `ping` is
                    // answered only once its subscription is registered with the hub.
                    let outcome = await environment.graphQL.live(
                        query: query, variables: variables, operationName: payload["operationName"]?.stringValue, principal: session.principal,
                        token: session.token, address: environment.address)
                    let started = connection.start(id) { await deliver(id, outcome, on: connection, environment) }
                    if !started, case .stream(_, let subscriber) = outcome { environment.services.live.unsubscribe(subscriber) }
                case "complete":
                    guard let id = fields["id"]?.stringValue else {
                        await connection.close(Close.badMessage, "Invalid message received: complete needs an id")
                        return
                    }
                    connection.finished(id, cancel: true)
                default:
                    await connection.close(Close.badMessage, "Invalid message received: unknown type \(type.prefix(40))")
                    return
                }
            }
        } catch {
            // A frame over the size limit or a broken connection: the socket is gone or going.
            await connection.close(Close.badMessage, "Invalid message received: \(error)")
        }
    }

    /// One operation's answers: a subscription streams `next` until it ends (then `complete`); a
    /// query or mutation sends one `next` and `complete`; one that cannot start sends `error`.
    static func deliver(_ id: String, _ outcome: GraphQLService.LiveOperation, on connection: LiveConnection, _ environment: Environment) async {
        switch outcome {
        case .single(let bytes):
            await connection.send(message("next", id: id, payload: String(decoding: bytes, as: UTF8.self)))
            await connection.send(message("complete", id: id))
            connection.finished(id)
        case .refused(let errors):
            await connection.send(message("error", id: id, payload: "[" + errors.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",") + "]"))
            connection.finished(id)
        case .stream(let results, let subscriber):
            guard connection.attach(id, subscriber) else { return }
            let buffer = subscriber.limit
            subscriber.whenOverflowing { [weak connection] in
                connection?.closeSoon(Close.tooSlow, "Too slow: \(buffer) messages were waiting; reconnect and resume with after: <last cursor>")
            }
            do {
                for try await result in results {
                    let sent = await connection.send(message("next", id: id, payload: String(decoding: environment.graphQL.encoded(result), as: UTF8.self)))
                    subscriber.written()
                    if !sent { return }
                }
            } catch {
                await connection.send(message("error", id: id, payload: "[" + String(decoding: environment.graphQL.encodedError("the subscription failed", code: "INTERNAL_SERVER_ERROR"), as: UTF8.self) + "]"))
                connection.finished(id)
                return
            }
            // The stream ended without the client asking (the hub dropped it): say so.
            if !Task.isCancelled, !connection.isClosing, !subscriber.isOverflowed {
                await connection.send(message("complete", id: id))
            }
            connection.finished(id)
        }
    }

    static func message(_ type: String, id: String, payload: String? = nil) -> String {
        var text = #"{"type":""# + type + #"","id":"#
        JSONValue.writeString(id, to: &text)
        if let payload { text += #","payload":"# + payload }
        return text + "}"
    }

    /// The bearer token in connection_init's payload: `Authorization` / `authorization`
    /// ("Bearer ..." or the bare token) or `token`.
    static func token(_ payload: JSONValue?) -> String? {
        guard case .object(let fields)? = payload else { return nil }
        for key in ["Authorization", "authorization", "token"] {
            guard let value = fields[key]?.stringValue, !value.isEmpty else { continue }
            return Tokens.bearer(value) ?? value
        }
        return nil
    }
}
