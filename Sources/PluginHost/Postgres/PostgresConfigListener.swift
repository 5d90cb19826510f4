import Foundation
import Logging

/// LISTENs on the configuration channel and reloads when a change is committed. A lost
/// connection is re-established with backoff, and the host then reloads once, which covers the
/// notifications it missed meanwhile. Also refreshes this host's liveness every few seconds.
final class PostgresConfigListener: @unchecked Sendable {
    // @unchecked: `stopped` is atomic; the connection is used by the listener thread only.
    let conninfo: String
    let logger: Logger
    let onChange: @Sendable (String) -> Void
    let heartbeat: @Sendable () -> Void
    private let stopped = AtomicFlag()
    private let finished = DispatchSemaphore(value: 0)

    init(conninfo: String, logger: Logger, heartbeat: @escaping @Sendable () -> Void, onChange: @escaping @Sendable (String) -> Void) {
        self.conninfo = conninfo
        self.logger = logger
        self.heartbeat = heartbeat
        self.onChange = onChange
    }

    /// LISTENs before returning, so a change committed after this call is never missed (start
    /// it before the first read of the configuration).
    func start() throws {
        let first = try PostgresConnection(conninfo: conninfo, logger: logger)
        try first.execute("LISTEN \(PostgresConfigStore.channel)")
        let box = ConnectionBox(first)
        let thread = Thread { [self] in run(box.take()) }
        thread.name = "pg-listen"
        thread.start()
    }

    func stop() {
        stopped.set()
        finished.wait()
    }

    private func run(_ initial: PostgresConnection?) {
        defer { finished.signal() }
        var backoff = 100
        var lastBeat = Date.distantPast
        var connection: PostgresConnection? = initial
        while !stopped.isSet {
            do {
                if connection == nil {
                    let fresh = try PostgresConnection(conninfo: conninfo, logger: logger)
                    try fresh.execute("LISTEN \(PostgresConfigStore.channel)")
                    let reconnected = backoff > 100
                    connection = fresh
                    backoff = 100
                    if reconnected {
                        logger.notice("configuration listener reconnected; re-reading the configuration")
                        onChange("database reconnect")
                    }
                }
                let notes = try connection!.notifications(timeoutMilliseconds: 200)
                if !notes.isEmpty { onChange("database") }
                if Date().timeIntervalSince(lastBeat) > 5 {
                    heartbeat()
                    lastBeat = Date()
                }
            } catch {
                connection = nil
                logger.error("configuration listener lost the database, retrying in \(backoff) ms: \(error)")
                var waited = 0
                while waited < backoff && !stopped.isSet {
                    usleep(50_000)
                    waited += 50
                }
                backoff = min(backoff * 2, 5_000)
            }
        }
    }
}

/// Hands a connection to the listener thread (used by one thread at a time).
final class ConnectionBox: @unchecked Sendable {
    private var connection: PostgresConnection?
    init(_ connection: PostgresConnection) { self.connection = connection }
    func take() -> PostgresConnection? {
        defer { connection = nil }
        return connection
    }
}
