import Foundation
import Logging
import Synchronization

/// The host's log lines, one per event, whatever the message holds: control characters in a
/// message or a metadata value (an event type with a newline, a NUL from a hostile producer)
/// are escaped (`\n`, `\u{0}`), so no input can forge or split a line.
///
/// Three formats, chosen by `POS_LOG_FORMAT` (`text`, `json`, `journal`), else `journal` when
/// the host runs under systemd (`$JOURNAL_STREAM` is set) and `text` otherwise:
/// - `journal`: a syslog priority prefix (`<3>` error ... `<7>` debug, which journald turns into
///   the entry's priority), the message, then the metadata as `key=value` pairs; no timestamp
///   (journald adds its own);
/// - `text`: ISO 8601 time, level, label, message, `key=value` pairs;
/// - `json`: one JSON object per line (`time`, `level`, `label`, `message`, and the metadata).
public struct HostLogHandler: LogHandler {
    public enum Format: String, Sendable { case text, json, journal }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String
    public let format: Format
    private static let output = Mutex(FileHandle.standardError)

    public init(label: String, format: Format) {
        self.label = label
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        Self.output.withLock { $0.write(Data(line(level: event.level, message: "\(event.message)", metadata: merged, time: Date()).utf8)) }
    }

    /// One complete line (with its newline) for an entry.
    public func line(level: Logger.Level, message: String, metadata: Logger.Metadata, time: Date) -> String {
        let keys = metadata.keys.sorted()
        switch format {
        case .json:
            var object: [String: JSONValue] = [
                "time": .string(Self.timestamp(time)), "level": .string(level.rawValue), "label": .string(label), "message": .string(message),
            ]
            for key in keys where object[key] == nil { object[key] = .string("\(metadata[key]!)") }
            return JSONValue.object(object).jsonText + "\n"
        case .journal, .text:
            let fields = keys.map { key in "\(Self.escaped(key))=\(Self.quoted("\(metadata[key]!)"))" }
            let tail = fields.isEmpty ? "" : " " + fields.joined(separator: " ")
            if format == .journal { return "<\(Self.priority(level))>\(Self.escaped(message))\(tail)\n" }
            return "\(Self.timestamp(time)) \(level.rawValue) \(Self.escaped(label)): \(Self.escaped(message))\(tail)\n"
        }
    }

    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// `text` with every control character (C0, DEL, C1, and the Unicode line and paragraph
    /// separators) written as an escape; everything else unchanged.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where needsEscape(scalar): output += "\\u{\(String(scalar.value, radix: 16))}"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    public static func quoted(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || value.unicodeScalars.contains(where: needsEscape)
            ? JSONValue.string(value).jsonText : value
    }

    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        return UTCTime.iso8601(milliseconds: milliseconds)
    }

    /// The format from `POS_LOG_FORMAT`, else journal under systemd, else text.
    public static func format(environment: [String: String]) -> Format {
        if let name = environment["POS_LOG_FORMAT"], let format = Format(rawValue: name) { return format }
        return environment["JOURNAL_STREAM"] != nil ? .journal : .text
    }

    /// Bootstraps swift-log with this handler in the format the environment asks for.
    public static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let format = format(environment: environment)
        LoggingSystem.bootstrap { HostLogHandler(label: $0, format: format) }
    }
}
