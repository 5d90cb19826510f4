import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Tells the host that configuration files may have changed. The inotify implementation is the
/// production one; tests can call the host's reload directly instead.
public protocol ConfigChangeWatcher: Sendable {
    /// Starts watching; `onChange` is called (on the watcher's own thread) after a burst of
    /// changes has settled.
    func start(onChange: @escaping @Sendable () -> Void) throws
    func stop()
}

/// Watches directories with inotify and reports a change once a burst of events has been quiet
/// for `settle` (editors write, rename and chmod in quick succession; one reload covers them).
public final class InotifyConfigWatcher: ConfigChangeWatcher, @unchecked Sendable {
    // @unchecked: `descriptor` and `stopPipe` are set once in start() before the thread runs.
    private let directories: [String]
    private let settleMilliseconds: Int32
    private var descriptor: Int32 = -1
    private var stopPipe: [Int32] = [-1, -1]
    private let finished = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(false)

    public init(directories: [String], settleMilliseconds: Int = 50) {
        self.directories = Array(Set(directories)).sorted()
        self.settleMilliseconds = Int32(settleMilliseconds)
    }

    public func start(onChange: @escaping @Sendable () -> Void) throws {
        descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else { throw HostError("inotify_init1 failed: \(String(cString: strerror(errno)))") }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        for directory in directories {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard inotify_add_watch(descriptor, directory, mask) >= 0 else {
                throw HostError("cannot watch \(directory): \(String(cString: strerror(errno)))")
            }
        }
        guard pipe(&stopPipe) == 0 else { throw HostError("pipe failed: \(String(cString: strerror(errno)))") }
        for end in stopPipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        running.store(true, ordering: .sequentiallyConsistent)
        let thread = Thread { [self] in
            self.loop(onChange)
            self.finished.signal()
        }
        thread.name = "pos-config-watcher"
        thread.start()
    }

    private func loop(_ onChange: @Sendable () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var pendingChange = false
        while running.load(ordering: .relaxed) {
            var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
            // While a change is pending, wait only for the burst to settle.
            let ready = poll(&fds, 2, pendingChange ? settleMilliseconds : -1)
            if ready < 0 && errno == EINTR { continue }
            if fds[1].revents != 0 { break }
            if ready == 0 {
                if pendingChange {
                    pendingChange = false
                    onChange()
                }
                continue
            }
            // Drain everything queued; which file changed does not matter, the reload reads all.
            while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
            pendingChange = true
        }
    }

    public func stop() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        var byte: UInt8 = 1
        _ = write(stopPipe[1], &byte, 1)
        finished.wait()
        close(descriptor)
        close(stopPipe[0])
        close(stopPipe[1])
    }
}
