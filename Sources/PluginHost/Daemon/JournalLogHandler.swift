import Foundation
import Logging
import Synchronization

/// Log lines for journald when the host runs under systemd (`$JOURNAL_STREAM` is set): a
/// syslog priority prefix (`<3>` error ... `<7>` debug, which journald turns into the entry's
/// priority), the message, then the metadata as `key=value` pairs that `journalctl -o verbose`
/// and grep can find. No timestamp: journald adds its own.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    private static let output = Mutex(FileHandle.standardError)

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let priority: Int
        switch event.level {
        case .trace, .debug: priority = 7
        case .info: priority = 6
        case .notice: priority = 5
        case .warning: priority = 4
        case .error: priority = 3
        case .critical: priority = 2
        }
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.keys.sorted().map { key in "\(key)=\(Self.quoted("\(merged[key]!)"))" }
        let line = "<\(priority)>\(event.message)\(fields.isEmpty ? "" : " " + fields.joined(separator: " "))\n"
        Self.output.withLock { $0.write(Data(line.utf8)) }
    }

    static func quoted(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? JSONValue.string(value).jsonText : value
    }

    /// The handler to bootstrap swift-log with: journald-style under systemd, else swift-log's
    /// standard-error stream handler.
    public static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if environment["JOURNAL_STREAM"] != nil {
            LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
        } else {
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
        }
    }
}
