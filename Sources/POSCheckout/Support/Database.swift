import Logging
import NIOPosix
import POSPlatform

/// PostgreSQL for async code: the libpq connections pos-host uses, driven from threads of
/// their own so that a query never blocks Swift's cooperative pool (two threads on this
/// machine). One thread per connection, so a request waits for a connection, not a thread.
public final class Database: Sendable {
    public let pool: PostgresPool
    private let threads: NIOThreadPool

    public init(conninfo: String, connections: Int, logger: Logger) throws {
        pool = try PostgresPool(conninfo: conninfo, size: connections, logger: logger)
        threads = NIOThreadPool(numberOfThreads: connections)
        threads.start()
    }

    /// Runs `body` with a pooled connection on a database thread.
    @discardableResult
    public func run<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> R) async throws -> R {
        try await threads.runIfActive { [pool] in try pool.with(body) }
    }

    /// Runs `body` in one transaction.
    @discardableResult
    public func transaction<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> R) async throws -> R {
        try await run { connection in try connection.transaction(body) }
    }

    public func shutdown() async {
        try? await threads.shutdownGracefully()
    }
}

extension PostgresRows {
    /// The cell at `row`, `column` as text, or a clear error for a column the query must give.
    func required(_ row: Int, _ column: Int) throws -> String {
        guard let value = text(row, column) else { throw CheckoutError(.internalError, "the database returned no value where one is required") }
        return value
    }
}
