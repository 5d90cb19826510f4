import Foundation

/// One record read from an event source: an event, or input that is not one (kept whole so it
/// can be dead-lettered instead of lost).
public enum IngressRecord: Sendable {
    case event(Event)
    case malformed(raw: [UInt8], reason: String, origin: String)
}

/// Where events come from. Pull-based: `next()` blocks until a record is available and returns
/// nil when the source has ended. The Kafka bridge is another implementation.
public protocol EventSource: AnyObject, Sendable {
    func next() throws -> IngressRecord?
}

/// A fixed list of events (tests, benchmarks).
public final class InMemoryEventSource: EventSource, @unchecked Sendable {
    // @unchecked: `position` is only touched by the single consumer thread that calls next().
    private let records: [IngressRecord]
    private var position = 0

    public init(events: [Event]) { records = events.map { .event($0) } }
    public init(records: [IngressRecord]) { self.records = records }

    public func next() -> IngressRecord? {
        guard position < records.count else { return nil }
        defer { position += 1 }
        return records[position]
    }
}

/// Reads one event per line from a file descriptor (a file, a pipe, or standard input with
/// `pos-host --events -`). Blank lines and lines starting with `#` are skipped.
public final class JSONLinesEventSource: EventSource, @unchecked Sendable {
    // @unchecked: the buffer is only touched by the single consumer thread that calls next().
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let name: String
    private let decoder: EventDecoder
    private var buffer: [UInt8] = []
    private var lineNumber = 0
    private var ended = false

    /// Opens `path` ("-" for standard input).
    public init(path: String, decoder: EventDecoder) throws {
        if path == "-" {
            descriptor = STDIN_FILENO
            ownsDescriptor = false
            name = "stdin"
        } else {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw HostError("cannot open events file \(path): \(String(cString: strerror(errno)))") }
            ownsDescriptor = true
            name = path
        }
        self.decoder = decoder
    }

    deinit { if ownsDescriptor { close(descriptor) } }

    public func next() throws -> IngressRecord? {
        while true {
            guard let line = try readLine() else { return nil }
            lineNumber += 1
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 }
            if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") || trimmed == [0x0d] { continue }
            var record = line
            if record.last == 0x0d { record.removeLast() }
            do {
                return .event(try decoder.decode(record))
            } catch {
                return .malformed(raw: record, reason: error.reason, origin: "\(name):\(lineNumber)")
            }
        }
    }

    /// The next line without its newline; a final line without newline counts. Lines longer than
    /// twice the event limit are cut there (and then fail the size check) so memory stays bounded.
    private func readLine() throws -> [UInt8]? {
        let limit = decoder.maxEventBytes * 2 + 1
        var scanned = 0
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0a) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                return line
            }
            scanned = buffer.count
            if buffer.count > limit {
                let line = Array(buffer.prefix(limit))
                // Skip the rest of this over-long line.
                buffer = []
                try discardUntilNewline()
                return line
            }
            if ended {
                if buffer.isEmpty { return nil }
                defer { buffer = [] }
                return buffer
            }
            try fill()
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw HostError("cannot read \(name): \(String(cString: strerror(errno)))")
            }
            if count == 0 { ended = true } else { buffer.append(contentsOf: chunk[..<count]) }
            return
        }
    }

    private func discardUntilNewline() throws {
        while !ended {
            try fill()
            if let newline = buffer.firstIndex(of: 0x0a) {
                buffer.removeFirst(newline + 1)
                return
            }
            buffer = []
        }
    }
}
