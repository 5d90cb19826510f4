import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The context of a WebSocket upgrade request: what Hummingbird needs, plus the channel (to
/// close a socket whose client stopped reading) and the peer's address.
public struct LiveRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<LiveRequestContext>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }

    var address: String { channel.remoteAddress?.ipAddress ?? "unknown" }
}

/// The WebSocket routes (upgrade requests only; plain HTTP goes to ``ApiServer``'s router).
public enum LiveRoutes {
    public static func router(graphQL: GraphQLService, services: CheckoutServices, sessions: LiveSessions) -> Router<LiveRequestContext> {
        let router = Router(context: LiveRequestContext.self)
        router.ws(
            "/graphql",
            shouldUpgrade: { request, _ in
                // Answer with the subprotocol when offered; otherwise upgrade and close with 4406.
                let offered = (request.headers[.secWebSocketProtocol] ?? "").split(separator: ",").contains {
                    $0.trimmingCharacters(in: .whitespaces) == GraphQLTransportWS.subprotocol
                }
                return .upgrade(offered ? [.secWebSocketProtocol: GraphQLTransportWS.subprotocol] : [:])
            },
            onUpgrade: { inbound, outbound, context in
                let request = context.request
                let offered = (request.headers[.secWebSocketProtocol] ?? "").contains(GraphQLTransportWS.subprotocol)
                let environment = GraphQLTransportWS.Environment(
                    graphQL: graphQL, services: services, sessions: sessions, address: context.requestContext.address,
                    headerToken: Tokens.bearer(request.headers[.authorization]), offeredSubprotocol: offered)
                await GraphQLTransportWS.serve(inbound, outbound, channel: context.requestContext.channel, environment, logger: context.logger)
            })
        let plain: [(String, PlainSockets.Kind)] = [
            ("/ws/session/:subject", .session), ("/ws/fraud-alerts/:subject", .fraud), ("/ws/fraud/:subject", .fraud),
            ("/ws/recommendations/:subject", .recommendations),
        ]
        for (path, kind) in plain {
            router.ws(RouterPath(path)) { inbound, outbound, context in
                let request = context.request
                let query = request.uri.queryParameters
                let subject = context.requestContext.parameters.get("subject") ?? ""
                let live = PlainSockets.Request(
                    kind: kind, subject: subject.removingPercentEncoding ?? subject,
                    token: Tokens.bearer(request.headers[.authorization]) ?? query.get("token"), after: query.get("after"), lastEventId: query.get("last_event_id"))
                await PlainSockets.serve(live, inbound, outbound, channel: context.requestContext.channel, services: services, sessions: sessions, logger: context.logger)
            }
        }
        return router
    }
}
