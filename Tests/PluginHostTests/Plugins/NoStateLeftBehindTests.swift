import Foundation
import Testing

@testable import PluginHost

/// After a generated store day, no plugin keeps rows of baskets that were paid or closed, nor
/// of sessions that ended, whatever the order in which the events other plugins emit arrive.
@Suite struct NoStateLeftBehindTests {
    static let five = ["employee_time_tracker", "customer_lookup", "purchase_recommender", "fraud_detection", "age_verification"]

    /// Runs a day through all five; emitted events are delivered `late` (after everything else,
    /// the worst arrival order) or right after their cause.
    static func run(late: Bool) throws -> (plugins: [PluginHarness], closedBaskets: Set<String>, openSessions: Set<String>) {
        let plugins = try five.map { try PluginHarness($0) }
        let decoder = EventDecoder(maxEventBytes: 1 << 20, clock: ManualClock(milliseconds: 0))
        var generator = StoreTrafficGenerator(terminals: 6, format: .canonical, seed: 11)
        var closed = Set<String>(), open = Set<String>()
        var pending: [Event] = []
        func deliver(_ event: Event) {
            let before = plugins.map { $0.sink.events.count }
            for plugin in plugins { plugin.deliver(event) }
            var emitted: [Event] = []
            for (plugin, count) in zip(plugins, before) { emitted += plugin.sink.events[count...] }
            if late { pending += emitted } else { emitted.forEach(deliver) }
        }
        for _ in 0..<3_000 {
            let event = try decoder.decode(Array(generator.next().line.utf8))
            let payload = try JSONValue.parse(event.payload)
            if ["PAYMENT_PROCESSED", "BASKET_CLOSED"].contains(event.type), let basket = payload["basket_id"]?.stringValue { closed.insert(basket) }
            if event.type == "EMPLOYEE_LOGIN", let terminal = payload["terminal_id"]?.stringValue { open.insert(terminal) }
            if event.type == "EMPLOYEE_LOGOUT", let terminal = payload["terminal_id"]?.stringValue { open.remove(terminal) }
            deliver(event)
        }
        while !pending.isEmpty {
            let batch = pending
            pending = []
            for event in batch { deliver(event) }
        }
        return (plugins, closed, open)
    }

    @Test(arguments: [false, true])
    func noRowsOfClosedBasketsRemain(late: Bool) throws {
        let (plugins, closed, _) = try Self.run(late: late)
        #expect(closed.count > 50)
        for plugin in plugins {
            let leftovers = plugin.store.entries(plugin: plugin.name).keys.map { String(decoding: $0, as: UTF8.self) }
                .filter { key in key.hasPrefix("basket:") && closed.contains(String(key.dropFirst("basket:".count))) }
            #expect(leftovers.isEmpty, "\(plugin.name) (late \(late)) keeps \(leftovers.count) rows of closed baskets, e.g. \(leftovers.prefix(3))")
        }
    }
}
