import Hummingbird
import NIOCore

/// A request's context in pos-api: Hummingbird's core storage plus the peer's address (sign-in
/// failures are counted per address).
public struct ApiRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The address as text, for counting.
    var address: String { remoteAddress?.ipAddress ?? "unknown" }
}
