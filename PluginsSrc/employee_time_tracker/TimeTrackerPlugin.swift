import Foundation
import PluginSDK

/// Clocks employees in on login and out on logout or session termination, on event time.
/// Docs: docs/plugins/employee_time_tracker.md.
final class TimeTrackerPlugin: POSPlugin {
    static let descriptor = PluginDescriptor(
        name: "employee_time_tracker",
        version: "1.0.0",
        description: "Time entries from logins and logouts; one terminal at a time; stale shifts closed",
        subscriptions: ["EMPLOYEE_LOGIN", "EMPLOYEE_LOGOUT", "SESSION_TERMINATED"], emits: ["SESSION_TERMINATED"],
        settingsSchema: """
            {"type": "object",
             "properties": {
               "max_shift_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 48},
               "single_terminal": {"type": "boolean"}
             },
             "additionalProperties": false}
            """,
        defaultSettings: #"{"max_shift_hours": 12, "single_terminal": true}"#)

    struct Settings: Decodable {
        var maxShiftHours: Double
        var singleTerminal: Bool
    }

    struct SessionEvent: Decodable {
        var employeeId: PluginIdentifier
        var terminalId: String
        var reason: String?
    }

    /// One shift on one terminal.
    struct Entry: Codable, Equatable {
        var employeeId: String
        var terminalId: String
        var clockInMs: Int64
        var clockOutMs: Int64?
        var totalHours: Double?
        /// How it ended: logout, session_terminated, auto_logout (login elsewhere), max_shift.
        var closedBy: String?
    }

    private var settings: Settings

    init(settings: PluginSettings, host: PluginHost) throws { self.settings = try settings.decode(Settings.self) }

    func reconfigure(settings: PluginSettings, host: PluginHost) throws { self.settings = try settings.decode(Settings.self) }

    func handle(_ event: PluginEvent, host: PluginHost) throws {
        let session = try event.decode(SessionEvent.self)
        let employee = session.employeeId.description
        let now = event.timeMilliseconds
        // Open entries as a list (terminal ids must not become JSON object keys: key strategies
        // would rewrite them).
        var open = try host.state.get("open:\(employee)", as: [Entry].self) ?? []
        // Shifts longer than the maximum were never closed: close them at the maximum.
        let maxShift = Int64(settings.maxShiftHours * 3_600_000)
        for entry in open where now - entry.clockInMs > maxShift {
            try close(entry, at: entry.clockInMs + maxShift, by: "max_shift", host: host)
        }
        open.removeAll { now - $0.clockInMs > maxShift }
        if event.isType("EMPLOYEE_LOGIN") {
            if settings.singleTerminal {
                for entry in open where entry.terminalId != session.terminalId {
                    let terminal = entry.terminalId
                    try close(entry, at: now, by: "auto_logout", host: host)
                    struct Terminated: Encodable {
                        var employeeId: String
                        var terminalId: String
                        var reason: String
                    }
                    try host.emit(type: "SESSION_TERMINATED", key: terminal, Terminated(employeeId: employee, terminalId: terminal, reason: "auto_logout"))
                }
                open.removeAll { $0.terminalId != session.terminalId }
            }
            if !open.contains(where: { $0.terminalId == session.terminalId }) {
                open.append(Entry(employeeId: employee, terminalId: session.terminalId, clockInMs: now))
            }
        } else if let entry = open.first(where: { $0.terminalId == session.terminalId }) {
            try close(entry, at: now, by: event.isType("EMPLOYEE_LOGOUT") ? "logout" : (session.reason ?? "session_terminated"), host: host)
            open.removeAll { $0.terminalId == session.terminalId }
        }
        if open.isEmpty { try host.state.delete("open:\(employee)") } else { try host.state.put("open:\(employee)", json: open) }
    }

    private func close(_ entry: Entry, at time: Int64, by reason: String, host: PluginHost) throws {
        var closed = entry
        closed.clockOutMs = max(time, entry.clockInMs)
        closed.totalHours = (Double(closed.clockOutMs! - entry.clockInMs) / 3_600_000 * 100).rounded() / 100
        closed.closedBy = reason
        // Keyed by employee and clock-in time so a period is one prefix scan.
        try host.state.put("entry:\(entry.employeeId):\(Self.sortable(entry.clockInMs)):\(entry.terminalId)", json: closed)
        host.count("entries_closed")
    }

    static func sortable(_ milliseconds: Int64) -> String {
        let text = String(milliseconds)
        return String(repeating: "0", count: max(0, 15 - text.count)) + text
    }

    /// `entries {"employee_id", "from_ms"?, "to_ms"?}`: closed and open entries of the period,
    /// with totals per UTC day and ISO week (serves `myTimeEntries`).
    func query(_ name: String, request: [UInt8], host: PluginHost) throws -> [UInt8] {
        guard name == "entries" else { throw PluginError.unknownQuery(name) }
        struct Request: Decodable {
            var employeeId: PluginIdentifier
            var fromMs: Int64?
            var toMs: Int64?
        }
        let query = try PluginJSON.decode(Request.self, from: request)
        let employee = query.employeeId.description
        let from = query.fromMs ?? 0, to = query.toMs ?? Int64.max
        var entries = host.state.scan(prefix: "entry:\(employee):").compactMap { try? PluginJSON.decode(Entry.self, from: $0.value) }
        entries += try host.state.get("open:\(employee)", as: [Entry].self) ?? []
        entries = entries.filter { $0.clockInMs >= from && $0.clockInMs < to }
        var perDay: [String: Double] = [:]
        var perWeek: [String: Double] = [:]
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for entry in entries {
            guard let hours = entry.totalHours else { continue }
            let date = Date(timeIntervalSince1970: Double(entry.clockInMs) / 1000)
            let day = calendar.dateComponents([.year, .month, .day], from: date)
            let week = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            perDay[String(format: "%04d-%02d-%02d", day.year!, day.month!, day.day!), default: 0] += hours
            perWeek[String(format: "%04d-W%02d", week.yearForWeekOfYear!, week.weekOfYear!), default: 0] += hours
        }
        func rounded(_ totals: [String: Double]) -> [String: Double] { totals.mapValues { ($0 * 100).rounded() / 100 } }
        struct Answer: Encodable {
            var employeeId: String
            var entries: [Entry]
            var hoursPerDay: [String: Double]
            var hoursPerWeek: [String: Double]
        }
        return try PluginJSON.encode(Answer(employeeId: employee, entries: entries, hoursPerDay: rounded(perDay), hoursPerWeek: rounded(perWeek)))
    }
}

@_cdecl("pos_plugin_entry")
public func posPluginEntry(_ major: UInt16, _ minor: UInt16) -> UnsafeRawPointer? {
    PluginExport.entry(TimeTrackerPlugin.self, hostMajor: major, hostMinor: minor)
}
