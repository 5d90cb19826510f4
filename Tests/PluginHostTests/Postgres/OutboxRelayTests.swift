import Foundation
import Logging
import Testing

@testable import PluginHost

/// The outbox relay sleeps on LISTEN until a commit that wrote outbox rows notifies it, instead
/// of polling the database 50 times a second while idle.
@Suite(.serialized, .timeLimit(.minutes(5))) struct OutboxRelayTests {
    private func emitted(_ id: String) -> StateCommit {
        var commit = StateCommit()
        commit.emitted = [Event(id: id, type: "T", key: "k", timeMilliseconds: 1_000, payload: Array("{}".utf8), causationId: nil, source: "plugin:p")]
        return commit
    }

    @Test func aCommitWithEmittedEventsWakesAWaitingRelay() throws {
        let url = try TestDatabase.fresh("relay")
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let wake = RelayWakeup(conninfo: url, logger: Logger(label: "test"))
        #expect(wake.wait(milliseconds: 10_000))  // connects and listens: look once first
        let store = PostgresStateStore(pool: pool)
        let started = DispatchTime.now().uptimeNanoseconds
        let committer = Thread {
            usleep(200_000)
            try? store.commit(plugin: "p", self.emitted("e1"))
        }
        committer.start()
        #expect(wake.wait(milliseconds: 30_000))
        // Woken by the commit's notification, long before the 30 s timeout.
        #expect(DispatchTime.now().uptimeNanoseconds - started < 15_000_000_000)
        // A commit without emitted events does not notify: the wait runs to its timeout.
        try store.commit(plugin: "p", writes: [Array("k".utf8): Array("v".utf8)])
        let quiet = DispatchTime.now().uptimeNanoseconds
        #expect(wake.wait(milliseconds: 300))
        #expect(DispatchTime.now().uptimeNanoseconds - quiet >= 250_000_000)
    }

    @Test func anIdleRelayPublishesWhatIsCommittedAndStopsAtOnce() throws {
        let url = try TestDatabase.fresh("relay")
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let sink = InMemoryEventSink()
        // A 30 s idle wait: only the commits' notifications (and stop's) can wake it in time.
        let relay = OutboxRelay(pool: pool, sink: sink, logger: Logger(label: "test"), idleWaitMilliseconds: 30_000)
        relay.start()
        let store = PostgresStateStore(pool: pool)
        for round in 0..<3 {
            usleep(300_000)  // the relay is idle, waiting
            try store.commit(plugin: "p", emitted("e\(round)"))
            let deadline = Date().addingTimeInterval(30)
            while sink.events.count <= round && Date() < deadline { usleep(5_000) }
        }
        #expect(sink.events.map(\.id) == ["e0", "e1", "e2"])
        let published = try pool.with { try $0.execute("SELECT count(*) FROM pos_outbox WHERE published") }
        #expect(published.int(0, 0) == 3)
        // stop() wakes the waiting relay rather than waiting out its 30 s.
        usleep(300_000)
        let stopping = DispatchTime.now().uptimeNanoseconds
        relay.stop()
        #expect(DispatchTime.now().uptimeNanoseconds - stopping < 10_000_000_000)
    }

    /// The relay's listening session killed (a database restart, a pooler, an operator): the
    /// relay listens again on a new session and still publishes what is committed.
    @Test func aRelayWhoseListeningSessionDiesListensAgainAndLosesNothing() throws {
        let url = try TestDatabase.fresh("relay")
        let pool = try TestDatabase.pool(url)
        _ = try pool.with { try PostgresSchema.migrate($0) }
        let sink = InMemoryEventSink()
        let relay = OutboxRelay(pool: pool, sink: sink, logger: Logger(label: "test"), idleWaitMilliseconds: 30_000)
        relay.start()
        defer { relay.stop() }
        let store = PostgresStateStore(pool: pool)
        func listeners() throws -> [String] {
            try pool.with { db in
                try db.execute("SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND query = $1", [.text("LISTEN \(OutboxRelay.channel)")])
            }.rows.compactMap { $0[0] ?? nil }
        }
        var deadline = Date().addingTimeInterval(30)
        while try listeners().isEmpty && Date() < deadline { usleep(20_000) }
        let first = try listeners()
        #expect(first.count == 1)
        _ = try pool.with { db in try db.execute("SELECT pg_terminate_backend($1::int)", [.text(first[0])]) }
        usleep(300_000)
        try store.commit(plugin: "p", emitted("after-kill"))
        deadline = Date().addingTimeInterval(30)
        while sink.events.isEmpty && Date() < deadline { usleep(10_000) }
        #expect(sink.events.map(\.id) == ["after-kill"])
        // A new listening session (within about a second; the relay polls meanwhile), not the
        // killed one, and it is woken by commits again.
        deadline = Date().addingTimeInterval(30)
        while try listeners() == first || listeners().isEmpty, Date() < deadline { usleep(20_000) }
        let second = try listeners()
        #expect(second.count == 1 && second != first)
        usleep(300_000)
        try store.commit(plugin: "p", emitted("later"))
        deadline = Date().addingTimeInterval(30)
        while sink.events.count < 2 && Date() < deadline { usleep(10_000) }
        #expect(sink.events.map(\.id) == ["after-kill", "later"])
    }
}
