import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Speaks systemd's notify protocol (sd_notify(3)) for `Type=notify` services: one datagram per
/// state change to the socket in `$NOTIFY_SOCKET`. Written by hand (about 60 lines of POSIX)
/// rather than linking libsystemd, which would become a dependency of every build for a
/// protocol of one `sendto`. Without `$NOTIFY_SOCKET` every call is a no-op.
public final class SystemdNotifier: Sendable {
    private let socketPath: String?
    /// Half the watchdog interval in microseconds, when systemd asked for keep-alives.
    public let watchdogIntervalMicroseconds: UInt64?
    private let watchdog = Mutex<PollingThread?>(nil)

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let forUs = environment["WATCHDOG_PID"].map { $0 == String(getpid()) } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 {
            watchdogIntervalMicroseconds = usec / 2
        } else {
            watchdogIntervalMicroseconds = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `state` ("READY=1", ...). Errors are ignored, as sd_notify callers do: a lost
    /// notification is reported by systemd itself (start timeout, watchdog).
    public func notify(_ state: String) {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }  // Linux abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }

    /// Tells systemd a reload started; call ``ready(status:)`` when it is done.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        notify("RELOADING=1\nMONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000)")
    }

    public func stopping() { notify("STOPPING=1") }

    /// Sends WATCHDOG=1 every half interval while `healthy()` holds; a stuck host stops pinging
    /// and systemd restarts it.
    public func startWatchdog(healthy: @escaping @Sendable () -> Bool) throws {
        guard let interval = watchdogIntervalMicroseconds, isActive else { return }
        let poller = try PollingThread()
        watchdog.withLock { $0 = poller }
        let neverReadable = Pipe()
        let descriptor = neverReadable.fileHandleForReading.fileDescriptor
        poller.start { [self] poller in
            withExtendedLifetime(neverReadable) {
                while poller.wait(for: descriptor, timeoutMilliseconds: Int32(max(1, interval / 1_000))) != nil {
                    if healthy() { notify("WATCHDOG=1") }
                }
            }
        }
    }

    public func stopWatchdog() {
        let poller = watchdog.withLock { current -> PollingThread? in
            defer { current = nil }
            return current
        }
        poller?.stop()
    }
}
