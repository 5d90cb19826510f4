import Foundation
import POSPlatform

/// What one subscriber receives: the events of one till, one basket, or the store's fraud
/// alerts, optionally only some types.
public struct LiveFilter: Sendable, Equatable {
    public enum Scope: Sendable, Equatable {
        case terminal(String)
        case basket(String)
        /// Every till's events (a manager's view); with `types` [FRAUD_ALERT], the store's alerts.
        case store
    }

    public var scope: Scope
    /// nil: every type.
    public var types: Set<String>?

    public init(_ scope: Scope, types: Set<String>? = nil) {
        self.scope = scope
        self.types = types
    }

    func matches(_ event: LiveEvent) -> Bool {
        if let types, !types.contains(event.type) { return false }
        switch scope {
        case .terminal(let terminal): return event.terminalId == terminal
        case .basket(let basket): return event.basketId == basket
        case .store: return true
        }
    }

    /// The hub's index key for the scope.
    var key: String {
        switch scope {
        case .terminal(let terminal): "t:" + terminal
        case .basket(let basket): "b:" + basket
        case .store: "s"
        }
    }

    /// What a till is told about: its session, the plugins' decisions, payments.
    public static let tillTypes: Set<String> = [
        "SESSION_TERMINATED", "FRAUD_ALERT", "AGE_VERIFICATION_REQUIRED", "AGE_VERIFICATION_COMPLETED", "AGE_VERIFICATION_FAILED",
        "VERIFIED_ITEM_ADDED", "RECOMMENDATION_SUGGESTED", "CUSTOMER_DATA_FETCHED", "PAYMENT_INITIATED", "PAYMENT_PROCESSED", "BASKET_CLOSED",
    ]
    public static let ageTypes: Set<String> = ["AGE_VERIFICATION_REQUIRED", "AGE_VERIFICATION_COMPLETED", "AGE_VERIFICATION_FAILED", "VERIFIED_ITEM_ADDED"]
}

/// One subscription's end of the hub: a stream of events in the order the hub read them, and
/// the count of those handed over but not yet written to the client. The hub never waits for
/// a subscriber: once `limit` events are waiting it marks the subscriber overflowed, stops
/// feeding it and calls `onOverflow` (its connection closes it with a clear code).
public final class LiveSubscriber: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`.
    public let id: Int
    public let filter: LiveFilter
    public let stream: AsyncStream<LiveEvent>
    private let continuation: AsyncStream<LiveEvent>.Continuation
    let limit: Int
    private let lock = NSLock()
    private var waiting = 0
    private var overflowed = false
    private var onOverflow: (@Sendable () -> Void)?
    /// Live events below this are not sent (the client already had them from a faster instance).
    let floor: LiveCursor

    /// Counts the drop (the hub's statistics).
    private let counted: @Sendable () -> Void

    init(id: Int, filter: LiveFilter, limit: Int, floor: LiveCursor, counted: @escaping @Sendable () -> Void = {}) {
        self.id = id
        self.counted = counted
        self.filter = filter
        self.limit = limit
        self.floor = floor
        (stream, continuation) = AsyncStream.makeStream(of: LiveEvent.self, bufferingPolicy: .unbounded)
    }

    /// What to call when the subscriber falls `limit` events behind (at once if it already has).
    public func whenOverflowing(_ action: @escaping @Sendable () -> Void) {
        let already = lock.withLock { () -> Bool in
            onOverflow = action
            return overflowed
        }
        if already { action() }
    }

    public var isOverflowed: Bool { lock.withLock { overflowed } }
    public var waitingCount: Int { lock.withLock { waiting } }

    /// Called by the writer after each event reached the socket.
    public func written() { lock.withLock { waiting = max(0, waiting - 1) } }

    /// Hands an event over; false once the subscriber overflowed.
    @discardableResult
    func offer(_ event: LiveEvent) -> Bool {
        enum Outcome { case accepted, refused, overflowing((@Sendable () -> Void)?) }
        let outcome = lock.withLock { () -> Outcome in
            guard !overflowed else { return .refused }
            guard waiting < limit else {
                overflowed = true
                return .overflowing(onOverflow)
            }
            waiting += 1
            return .accepted
        }
        switch outcome {
        case .accepted:
            continuation.yield(event)
            return true
        case .refused:
            return false
        case .overflowing(let action):
            counted()
            continuation.finish()
            action?()
            return false
        }
    }

    func finish() { continuation.finish() }
}
