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
    // @unchecked: `descriptor` and `poller` are set once in start() before the thread runs.
    private let directories: [String]
    private let settleMilliseconds: Int32
    private var descriptor: Int32 = -1
    private var poller: PollingThread?

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
        let poller = try PollingThread()
        self.poller = poller
        let descriptor = descriptor, settle = settleMilliseconds
        poller.start { poller in Self.loop(descriptor, settle: settle, poller: poller, onChange: onChange) }
    }

    private static func loop(_ descriptor: Int32, settle: Int32, poller: PollingThread, onChange: @Sendable () -> Void) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var pendingChange = false
        // While a change is pending, wait only for the burst to settle.
        while let wake = poller.wait(for: descriptor, timeoutMilliseconds: pendingChange ? settle : -1) {
            switch wake {
            case .timeout:
                if pendingChange {
                    pendingChange = false
                    onChange()
                }
            case .ready:
                // Drain everything queued; which file changed does not matter, the reload reads all.
                while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
                pendingChange = true
            }
        }
    }

    public func stop() {
        guard let poller else { return }
        poller.stop()
        self.poller = nil
        close(descriptor)
    }
}
