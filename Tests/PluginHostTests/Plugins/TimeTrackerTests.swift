import Foundation
import Testing

@testable import PluginHost

/// employee_time_tracker on event time (the harness's wall clock is far away on purpose).
@Suite struct TimeTrackerTests {
    func login(_ plugin: PluginHarness, _ employee: Int, _ terminal: String, at second: Double) {
        plugin.send("EMPLOYEE_LOGIN", at: second, ["employee_id": .number(Double(employee)), "terminal_id": .string(terminal)])
    }

    func entries(_ plugin: PluginHarness, _ employee: Int) throws -> JSONValue {
        try plugin.query("entries", #"{"employee_id": \#(employee)}"#)
    }

    @Test func aShiftIsClockedFromLoginToLogoutInHoursToTwoDecimals() throws {
        let plugin = try PluginHarness("employee_time_tracker")
        login(plugin, 7, "T1", at: 0)
        let open = try entries(plugin, 7)["entries"]?.arrayValue ?? []
        #expect(open.count == 1 && open[0]["clock_out_ms"] == nil && open[0]["clock_in_ms"] == .number(Double(PluginHarness.base)))
        plugin.send("EMPLOYEE_LOGOUT", at: 8 * 3600 + 17 * 60, ["employee_id": .number(7), "terminal_id": .string("T1")])
        let closed = try #require(try entries(plugin, 7)["entries"]?.arrayValue?.first)
        #expect(closed["total_hours"] == .number(8.28) && closed["closed_by"] == .string("logout"))
        #expect(try entries(plugin, 7)["hours_per_day"]?["2026-11-25"] == .number(8.28))
        #expect(try entries(plugin, 7)["hours_per_week"]?["2026-W48"] == .number(8.28))
    }

    @Test func aLoginElsewhereEndsTheOtherSessions() throws {
        let plugin = try PluginHarness("employee_time_tracker")
        login(plugin, 7, "T1", at: 0)
        login(plugin, 7, "T2", at: 1800)
        let terminated = try #require(plugin.emitted("SESSION_TERMINATED").first)
        #expect(terminated["terminal_id"] == .string("T1") && terminated["reason"] == .string("auto_logout") && terminated["employee_id"] == .string("7"))
        // Our own SESSION_TERMINATED coming back from the bus changes nothing.
        plugin.send("SESSION_TERMINATED", at: 1801, ["employee_id": .number(7), "terminal_id": .string("T1"), "reason": .string("auto_logout")])
        let list = try entries(plugin, 7)["entries"]?.arrayValue ?? []
        #expect(list.count == 2)
        #expect(list[0]["total_hours"] == .number(0.5) && list[0]["closed_by"] == .string("auto_logout"))
        #expect(list[1]["terminal_id"] == .string("T2") && list[1]["clock_out_ms"] == nil)
    }

    @Test func aForgottenShiftIsClosedAtTheMaximum() throws {
        let plugin = try PluginHarness("employee_time_tracker", settings: .object(["max_shift_hours": .number(10)]))
        login(plugin, 3, "T1", at: 0)
        login(plugin, 3, "T1", at: 26 * 3600)  // next morning, same terminal
        let list = try entries(plugin, 3)["entries"]?.arrayValue ?? []
        #expect(list.count == 2 && list[0]["total_hours"] == .number(10) && list[0]["closed_by"] == .string("max_shift"))
        #expect(try entries(plugin, 3)["hours_per_week"]?["2026-W48"] == .number(10))
        #expect(plugin.emitted("SESSION_TERMINATED").isEmpty)
    }

    @Test func periodsAndOtherEmployeesAreKeptApart() throws {
        let plugin = try PluginHarness("employee_time_tracker")
        for day in 0..<3 {
            login(plugin, 5, "T1", at: Double(day) * 86_400)
            plugin.send("EMPLOYEE_LOGOUT", at: Double(day) * 86_400 + 4 * 3600, ["employee_id": .number(5), "terminal_id": .string("T1")])
        }
        login(plugin, 6, "T2", at: 100)
        let from = PluginHarness.base + 86_400_000
        let period = try plugin.query("entries", #"{"employee_id": 5, "from_ms": \#(from)}"#)
        #expect(period["entries"]?.arrayValue?.count == 2 && period["hours_per_week"]?["2026-W48"] == .number(8))
        #expect(try entries(plugin, 6)["entries"]?.arrayValue?.count == 1)
    }
}
