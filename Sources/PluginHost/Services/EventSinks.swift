import Foundation
import Synchronization

/// Where events emitted by plugins go once the emitting call has succeeded. Until the Kafka
/// bridge exists this is a JSON-lines file; tests collect them in memory.
public protocol EmittedEventSink: Sendable {
    func publish(_ events: [Event]) throws
    /// Returns once everything published so far is durable downstream (or throws).
    func flush() throws
}

extension EmittedEventSink {
    public func flush() throws {}
}

/// Collects emitted events in memory (tests).
public final class InMemoryEventSink: EmittedEventSink {
    private let collected = Mutex<[Event]>([])
    public init() {}
    public func publish(_ events: [Event]) { collected.withLock { $0.append(contentsOf: events) } }
    public var events: [Event] { collected.withLock { $0 } }
}

/// Appends one JSON line per event to a file, creating its directory.
public final class JSONLinesEventSink: EmittedEventSink {
    private let writer: JSONLinesFileWriter
    public init(path: String) throws { writer = try JSONLinesFileWriter(path: path) }
    public func publish(_ events: [Event]) throws {
        try writer.append(lines: events.map(\.jsonLine))
    }
}

/// Appends lines to a file under a lock; each append is one write(2) so concurrent writers and
/// readers never see half a record.
final class JSONLinesFileWriter: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw HostError("cannot open \(path) for appending: \(String(cString: strerror(errno)))") }
        descriptor = Mutex(fd)
    }

    func append(lines: [String]) throws {
        guard !lines.isEmpty else { return }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        try descriptor.withLock { fd in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw HostError("cannot write to \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    deinit { descriptor.withLock { _ = close($0) } }
}

