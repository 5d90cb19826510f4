#if canImport(Glibc)
import Glibc
#endif

/// One end of the host-worker socket (a `SOCK_STREAM` socketpair): frames of
/// `[u32 length][u8 kind][payload]`, where length counts kind and payload.
///
/// Not thread-safe: each end is used by one thread at a time (the host serialises calls to a
/// worker; the worker is single-threaded).
public final class FrameChannel {
    public let descriptor: Int32
    /// Frames larger than this are refused on both sides (a corrupt length or a hostile worker).
    public static let maximumFrameBytes = 64 << 20
    private var buffer: [UInt8] = []
    private var consumed = 0
    /// Frames queued by `enqueue`, sent together by the next `flush` or `send`.
    private var outgoing: [UInt8] = []
    /// recv's landing area, allocated once (zero-filling a fresh one per read cost more than the read).
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)

    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// How a receive ended.
    public enum Received {
        case frame(kind: UInt8, payload: [UInt8])
        case timedOut
        /// The peer closed its end or the socket failed; the reason is for logs.
        case closed(String)
    }

    /// A writer with room for the frame header; pass it to `send` when complete.
    public static func frame(_ kind: UInt8, capacity: Int = 256) -> WireWriter {
        var writer = WireWriter(reservingCapacity: capacity + 5)
        writer.u32(0)
        writer.u8(kind)
        return writer
    }

    /// Sends a frame built with ``frame(_:capacity:)``, after any queued ones. Never raises SIGPIPE.
    public func send(_ frame: WireWriter) throws(WireError) {
        enqueue(frame)
        try flush()
    }

    public func send(_ kind: UInt8) throws(WireError) { try send(Self.frame(kind, capacity: 0)) }

    /// Queues a frame to go with the next `flush` or `send`: one system call for many frames.
    public func enqueue(_ frame: WireWriter) {
        let start = outgoing.count
        outgoing.append(contentsOf: frame.bytes)
        let length = UInt32(frame.bytes.count - 4)
        for index in 0..<4 { outgoing[start + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
    }

    public func enqueue(_ kind: UInt8) { enqueue(Self.frame(kind, capacity: 0)) }

    public var hasQueuedFrames: Bool { !outgoing.isEmpty }

    /// Sends every queued frame.
    public func flush() throws(WireError) {
        guard !outgoing.isEmpty else { return }
        defer { outgoing.removeAll(keepingCapacity: outgoing.count < 1 << 20) }
        try sendAll(outgoing)
    }

    private func sendAll(_ bytes: [UInt8]) throws(WireError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                Glibc.send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                throw WireError("send failed: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    /// The next frame, waiting at most `timeoutMilliseconds` (negative: forever).
    public func receive(timeoutMilliseconds: Int) -> Received {
        var deadline: UInt64? = nil
        if timeoutMilliseconds >= 0 { deadline = Self.monotonicMilliseconds() + UInt64(timeoutMilliseconds) }
        while true {
            if let frame = nextBufferedFrame() {
                switch frame {
                case .success(let received): return received
                case .failure(let error): return .closed(error.description)
                }
            }
            var wait: Int32 = -1
            if let deadline {
                let now = Self.monotonicMilliseconds()
                if now >= deadline { return .timedOut }
                wait = Int32(clamping: deadline - now)
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, wait)
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed("poll failed: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }  // re-checks the deadline
            if let failure = fill() { return .closed(failure) }
        }
    }

    /// Whether a frame (or the end of the stream) is ready without waiting.
    public func hasInput() -> Bool {
        if buffer.count - consumed > 0 { return true }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }

    /// Reads what is available into the buffer; returns a reason when the stream ended.
    private func fill() -> String? {
        if consumed > 0 && consumed == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            consumed = 0
        } else if consumed > 1 << 20 {
            buffer.removeFirst(consumed)
            consumed = 0
        }
        while true {
            let received = recv(descriptor, chunk.baseAddress!, chunk.count, 0)
            if received < 0 && errno == EINTR { continue }
            if received <= 0 { return received == 0 ? "end of stream" : "recv failed: \(String(cString: strerror(errno)))" }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<received]))
            return nil
        }
    }

    private func nextBufferedFrame() -> Result<Received, WireError>? {
        let available = buffer.count - consumed
        guard available >= 5 else { return nil }
        var length = 0
        for index in 0..<4 { length |= Int(buffer[consumed + index]) << (8 * index) }
        guard length >= 1, length <= Self.maximumFrameBytes else {
            return .failure(WireError("corrupt frame length \(length)"))
        }
        guard available >= 4 + length else { return nil }
        let kind = buffer[consumed + 4]
        let payload = Array(buffer[(consumed + 5)..<(consumed + 4 + length)])
        consumed += 4 + length
        return .success(.frame(kind: kind, payload: payload))
    }

    public static func monotonicMilliseconds() -> UInt64 { monotonicNanoseconds() / 1_000_000 }

    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    deinit {
        close(descriptor)
        chunk.deallocate()
    }
}
