import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import POSPlatform

/// The original's plain WebSockets, same paths: `/ws/session/{terminal}/` (the session ended),
/// `/ws/fraud-alerts/{terminal}/` (also `/ws/fraud/{terminal}/`) and
/// `/ws/recommendations/{basket}/`. Each message is one JSON object: the original's flat shape
/// (`type` in lower case, the payload's fields) plus `event_type`, `id`, `cursor`, `timestamp`
/// and `data` (the payload). Sign-in: `Authorization: Bearer` or `?token=`; resume with
/// `?after=<cursor>` or `?last_event_id=<id>`.
enum PlainSockets {
    enum Kind: String, Sendable {
        case session, fraud, recommendations

        var types: Set<String> {
            switch self {
            case .session: ["SESSION_TERMINATED"]
            case .fraud: ["FRAUD_ALERT"]
            case .recommendations: ["RECOMMENDATION_SUGGESTED"]
            }
        }
    }

    struct Request: Sendable {
        let kind: Kind
        let subject: String
        let token: String?
        let after: String?
        let lastEventId: String?
    }

    static func serve(
        _ request: Request, _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, channel: any Channel, services: CheckoutServices,
        sessions: LiveSessions, logger: Logger
    ) async {
        let connection = LiveConnection(outbound: outbound, channel: channel, hub: services.live, logger: logger)
        defer {
            connection.ended()
            sessions.remove(connection)
        }
        guard let token = request.token else {
            await connection.close(GraphQLTransportWS.Close.unauthorised, "sign in first: send Authorization: Bearer <token> or ?token=")
            return
        }
        let subscriber: LiveSubscriber
        do {
            let principal = try await services.signIn.authenticate(token)
            connection.signedIn(principal, token: token)
            let filter = try await Self.filter(request, principal, services)
            let context = ApiContext(services: services, token: token, address: "", principal: principal)
            subscriber = try context.openLive(filter, after: request.after ?? request.lastEventId)
        } catch let error as CheckoutError {
            let code = error.code == .unauthenticated ? GraphQLTransportWS.Close.unauthorised : error.code == .forbidden ? GraphQLTransportWS.Close.forbidden : 4400
            await connection.close(code, error.message)
            return
        } catch {
            await connection.close(1011, "the subscription could not start")
            return
        }
        sessions.add(connection)
        guard connection.start("plain", { await push(subscriber, on: connection) }), connection.attach("plain", subscriber) else { return }
        let buffer = subscriber.limit
        subscriber.whenOverflowing { [weak connection] in
            connection?.closeSoon(GraphQLTransportWS.Close.tooSlow, "Too slow: \(buffer) messages were waiting; reconnect with ?after=<last cursor>")
        }
        // The client sends nothing we need; reading keeps the close handshake and pings going.
        do {
            for try await _ in inbound.messages(maxSize: 4096) {}
        } catch {}
    }

    private static func push(_ subscriber: LiveSubscriber, on connection: LiveConnection) async {
        for await event in subscriber.stream {
            let sent = await connection.send(message(event))
            subscriber.written()
            if !sent { return }
        }
    }

    /// Which events the path shows, once the caller may see them.
    static func filter(_ request: Request, _ principal: Principal, _ services: CheckoutServices) async throws -> LiveFilter {
        switch request.kind {
        case .session, .fraud:
            let terminal = try Validate.terminalId(request.subject)
            if terminal != principal.terminalId { try principal.require(.manager, to: "watching another terminal") }
            return LiveFilter(.terminal(terminal), types: request.kind.types)
        case .recommendations:
            // The original's README names a terminal here, its code a basket: both are served.
            do {
                let basket = try await services.baskets.basket(request.subject, for: principal)
                return LiveFilter(.basket(basket.id), types: request.kind.types)
            } catch let error as CheckoutError where error.code == .notFound {
                let terminal = try Validate.terminalId(request.subject)
                if terminal != principal.terminalId { throw error }
                return LiveFilter(.terminal(terminal), types: request.kind.types)
            }
        }
    }

    /// The original's flat shape, with what resuming needs.
    static func message(_ event: LiveEvent) -> String {
        var fields = event.payload
        fields["type"] = .string(event.type.lowercased())
        fields["event_type"] = .string(event.type)
        fields["id"] = .string(event.id)
        fields["cursor"] = .string(event.cursor.text)
        fields["timestamp"] = .string(UTCTime.iso8601(milliseconds: event.timeMilliseconds))
        fields["data"] = .object(event.payload)
        if let terminal = event.terminalId { fields["terminal_id"] = .string(terminal) }
        if let basket = event.basketId { fields["basket_id"] = .string(basket) }
        return JSONValue.object(fields).jsonText
    }
}
