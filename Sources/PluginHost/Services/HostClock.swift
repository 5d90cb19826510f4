import Foundation
import Synchronization

/// The host clock plugins read through `clock_now_ms`. Production uses the system clock; tests
/// and replays use a ``ManualClock`` so results do not depend on when they run.
public protocol HostClock: Sendable {
    func nowMilliseconds() -> Int64
}

public struct SystemClock: HostClock {
    public init() {}
    public func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// A clock that only moves when told to.
public final class ManualClock: HostClock {
    private let now: Mutex<Int64>
    public init(milliseconds: Int64 = 0) { now = Mutex(milliseconds) }
    public func nowMilliseconds() -> Int64 { now.withLock { $0 } }
    public func set(milliseconds: Int64) { now.withLock { $0 = milliseconds } }
    public func advance(milliseconds: Int64) { now.withLock { $0 += milliseconds } }
}

/// Monotonic time for measuring durations (never for business rules).
enum Monotonic {
    static func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
