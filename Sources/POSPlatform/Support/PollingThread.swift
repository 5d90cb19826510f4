import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A thread that waits on one file descriptor with poll(2) and can be stopped from another
/// thread at any moment (through a self-pipe), for the host's small blocking servers.
public final class PollingThread: @unchecked Sendable {
    // @unchecked: the pipe is created in init and closed only after the thread has finished.
    public enum Wake {
        /// The descriptor is readable.
        case ready
        /// The timeout passed.
        case timeout
    }

    private var stopPipe: [Int32] = [-1, -1]
    private let finished = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)

    public init() throws {
        guard pipe(&stopPipe) == 0 else { throw HostError("pipe failed: \(String(cString: strerror(errno)))") }
        for end in stopPipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    }

    /// Runs `body` on a new thread; `body` waits with ``wait(for:timeoutMilliseconds:)`` and
    /// returns when that gives nil (stop requested).
    public func start(_ body: @escaping @Sendable (PollingThread) -> Void) {
        running.store(true, ordering: .sequentiallyConsistent)
        Thread.detachNewThread { [self] in
            body(self)
            finished.signal()
        }
    }

    /// Waits until `descriptor` is readable or `timeoutMilliseconds` pass (-1: no timeout);
    /// nil once ``stop()`` has been called.
    public func wait(for descriptor: Int32, timeoutMilliseconds: Int32) -> Wake? {
        while running.load(ordering: .relaxed) {
            var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeoutMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if fds[1].revents != 0 { return nil }
            return ready == 0 ? .timeout : .ready
        }
        return nil
    }

    /// Stops the thread and waits for it. Idempotent.
    public func stop() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        var byte: UInt8 = 1
        _ = write(stopPipe[1], &byte, 1)
        finished.wait()
    }

    deinit {
        for end in stopPipe where end >= 0 { close(end) }
    }
}
