import Foundation
import Logging
import POSPlatform

/// Reads the bus for this instance's tills: every partition of the events topic (a
/// ``KafkaTail``, no consumer group, so every instance sees every event), each record decoded
/// once, its till found (the payload's, else its basket's), then handed to the ``LiveHub``.
public final class LiveFeed: @unchecked Sendable {
    // @unchecked: `tills` and the counters are touched only by the tail's thread; `counts` has a lock.
    let tail: KafkaTail
    let hub: LiveHub
    let tills: BasketTills
    let logger: Logger
    private let countsLock = NSLock()
    private var counts = Counts()

    public struct Counts: Sendable, Equatable {
        public var read = 0
        public var undecodable = 0
        public var withoutTill = 0
    }

    public init(tail: KafkaTail, hub: LiveHub, database: Database, logger: Logger) {
        self.tail = tail
        self.hub = hub
        self.tills = BasketTills(database: database)
        self.logger = logger
    }

    public var stats: Counts { countsLock.withLock { counts } }

    /// Starts reading `backlog` records before the end of each partition, so the retention
    /// window is filled again after a restart.
    public func start(backlog: Int64) {
        tail.start(
            backlog: backlog,
            onStart: { [hub, logger] starts in
                hub.started(at: starts)
                logger.notice("live feed reading \(starts.count) partitions from \(LiveCursor(next: starts).text)")
            },
            onMessage: { [self] message in handle(message) },
            onProblem: { [logger] problem in logger.warning("live feed: \(problem)") })
    }

    func handle(_ message: KafkaMessage) {
        guard var event = LiveEvent.decode(message.value, partition: message.partition, offset: message.offset, timestamp: message.timestampMilliseconds) else {
            let undecodable = countsLock.withLock { () -> Int in
                counts.read += 1
                counts.undecodable += 1
                return counts.undecodable
            }
            // Counted, never fatal; logged sparingly (a hostile producer must not flood the log).
            if undecodable & (undecodable - 1) == 0 {
                logger.warning("live feed: \(undecodable) records so far were not events (latest \(message.topic)/\(message.partition)@\(message.offset))")
            }
            // Still advances the hub's position, so cursors stay exact.
            hub.dispatch(LiveEvent(id: "", type: "", timeMilliseconds: message.timestampMilliseconds ?? 0, payload: [:], partition: message.partition, offset: message.offset))
            return
        }
        if event.type == "BASKET_STARTED", let basket = event.basketId, let terminal = event.terminalId { tills.remember(basket, terminal) }
        if event.terminalId == nil, let basket = event.basketId { event.terminalId = tills.terminal(of: basket, logger: logger) }
        countsLock.withLock {
            counts.read += 1
            if event.terminalId == nil { counts.withoutTill += 1 }
        }
        hub.dispatch(event)
    }

    public func stop() { tail.stop() }
}

/// Which till each basket belongs to: learnt from BASKET_STARTED as it passes, else asked of
/// the database once (baskets are pos-api's); bounded, and forgetting is only a cache miss.
final class BasketTills: @unchecked Sendable {
    // @unchecked: used only on the feed's thread.
    let database: Database
    private var known: [String: String] = [:]
    private var unknown: Set<String> = []
    /// Database lookups are rationed (a producer flooding the bus with unknown basket ids must
    /// not turn the feed into a query loop); past the ration an event goes out without a till
    /// (its basket's subscribers still get it).
    static let lookupsPerSecond = 500
    private var lookups = 0
    private var second: UInt64 = 0

    init(database: Database) { self.database = database }

    func remember(_ basket: String, _ terminal: String) {
        if known.count >= 100_000 { known.removeAll(keepingCapacity: true) }
        known[basket] = terminal
        unknown.remove(basket)
    }

    func terminal(of basket: String, logger: Logger) -> String? {
        if let terminal = known[basket] { return terminal }
        if unknown.contains(basket) { return nil }
        let now = DispatchTime.now().uptimeNanoseconds / 1_000_000_000
        if now != second {
            second = now
            lookups = 0
        }
        guard lookups < Self.lookupsPerSecond else { return nil }
        lookups += 1
        do {
            let rows = try database.pool.with { db in try db.execute("SELECT terminal_id FROM api_baskets WHERE id = $1", [.text(basket)]) }
            if !rows.rows.isEmpty, let terminal = rows.text(0, 0) {
                remember(basket, terminal)
                return terminal
            }
        } catch {
            logger.warning("live feed: cannot look up basket \(basket): \(error)")
            return nil
        }
        if unknown.count >= 10_000 { unknown.removeAll() }
        unknown.insert(basket)
        return nil
    }
}
