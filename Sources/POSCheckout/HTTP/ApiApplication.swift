import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import POSPlatform

/// pos-api assembled: PostgreSQL (migrated), the Kafka producer and outbox, the plugin
/// decisions through pos-host, the GraphQL service and the HTTP server. Stateless: any number
/// of instances may share one database and one Kafka cluster.
public enum ApiApplication {
    /// Connects to the database, retrying for up to `seconds` (a database starting beside us).
    public static func connect(_ config: ApiConfig, logger: Logger, seconds: Int = 30) async throws -> Database {
        guard let url = config.databaseURL else {
            throw HostError("pos-api needs PostgreSQL: set database.url in config.yaml or POS_DATABASE_URL")
        }
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while true {
            do {
                return try Database(conninfo: url, connections: config.databaseConnections, logger: logger)
            } catch {
                guard Date() < deadline else { throw error }
                logger.warning("database not reachable yet (\(error)); retrying")
                try await Task.sleep(nanoseconds: 500_000_000)
            }
        }
    }

    public static func run(config: ApiConfig, logger: Logger, notifier: SystemdNotifier = SystemdNotifier()) async throws {
        let servers = ProcessInfo.processInfo.environment["POS_KAFKA_BOOTSTRAP_SERVERS"] ?? config.bootstrapServers
        guard servers != "embedded", !servers.isEmpty else {
            throw HostError(
                "pos-api needs a Kafka cluster it shares with pos-host; 'embedded' lives inside one pos-host. Set kafka.bootstrap_servers (or POS_KAFKA_BOOTSTRAP_SERVERS), e.g. to pos-kafka-mock's address")
        }
        let database = try await connect(config, logger: logger)
        let applied = try await database.run { db in try CheckoutSchema.migrator.migrate(db) }
        if !applied.isEmpty { logger.notice("database migrated to version \(applied.last!)") }
        var properties = config.kafkaProperties
        properties["linger.ms"] = properties["linger.ms"] ?? "1"
        let producer = try KafkaProducer(bootstrapServers: servers, properties: properties) { message in
            logger.warning("kafka: \(message)")
        }
        let outbox = Outbox(database: database, producer: producer, topic: config.topic, logger: logger)
        outbox.startSweeper()
        let provider = SimulatedCardTerminal(
            declineFromCents: config.cardDeclineFromCents, timeoutFromCents: config.cardTimeoutFromCents, timeoutMilliseconds: config.cardTimeoutMilliseconds)
        let decisions = HostDecisions(sockets: config.hostSockets, logger: logger)
        var limits = LiveHub.Limits()
        limits.retentionMilliseconds = Int64(config.live.retentionSeconds) * 1000
        limits.retainedEvents = config.live.retainedEvents
        limits.retainedBytes = config.live.retainedMegabytes << 20
        limits.subscriberBuffer = config.live.subscriberBuffer
        let hub = LiveHub(limits: limits)
        let services = CheckoutServices(config: config, database: database, outbox: outbox, provider: provider, decisions: decisions, live: hub, logger: logger)
        let graphQL = try GraphQLService(services: services, logger: logger)
        let sessions = LiveSessions(signIn: services.signIn, settings: config.live, hub: hub)
        sessions.startSweeping()
        // Only the connection's settings (security, client id, sockets) apply to the reader.
        let connectionProperties = config.kafkaProperties.filter { key, _ in
            ["security.", "sasl.", "ssl.", "socket.", "client.", "broker.", "api.version", "reconnect."].contains { key.hasPrefix($0) }
        }
        let tail = try KafkaTail(bootstrapServers: servers, topic: config.topic, properties: connectionProperties)
        let feed = LiveFeed(tail: tail, hub: hub, database: database, logger: logger)
        // Enough of each partition's tail to refill the retention window after a restart.
        feed.start(backlog: Int64(config.live.retainedEvents))
        let router = ApiServer.router(graphQL: graphQL, services: services)
        let host = config.host
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: LiveRoutes.router(graphQL: graphQL, services: services, sessions: sessions),
                configuration: .init(ws: .init(maxFrameSize: max(1 << 16, config.maxBodyBytes), autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(2)))),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "pos-api"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("pos-api listening on http://\(host):\(port)/graphql (playground /graphql/playground)")
                notifier.ready(status: "serving on \(host):\(port)")
            }, logger: logger)
        // Healthy while the database answers (every request needs it); the watchdog thread
        // pings systemd only then.
        try notifier.startWatchdog { (try? database.pool.with { try $0.execute("SELECT 1") }) != nil }
        defer {
            notifier.stopping()
            notifier.stopWatchdog()
            outbox.stop()
            sessions.stop()
            feed.stop()
            producer.close()
        }
        try await app.runService()
        await database.shutdown()
    }
}
