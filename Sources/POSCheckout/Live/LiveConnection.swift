import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import POSPlatform

/// One live WebSocket (either protocol): its writer, its running operations and their hub
/// subscribers, its session, and closing it exactly once with a code the client can act on.
final class LiveConnection: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`; the writer and channel are Sendable.
    let id: Int
    let outbound: WebSocketOutboundWriter
    let channel: any Channel
    let hub: LiveHub
    let logger: Logger
    private let lock = NSLock()
    private var closing = false
    private var operations: [String: Task<Void, Never>] = [:]
    private var subscribers: [String: LiveSubscriber] = [:]
    private(set) var session: (principal: Principal, token: String)?

    private static let ids = NSLock()
    nonisolated(unsafe) private static var lastId = 0

    init(outbound: WebSocketOutboundWriter, channel: any Channel, hub: LiveHub, logger: Logger) {
        id = Self.ids.withLock {
            Self.lastId += 1
            return Self.lastId
        }
        self.outbound = outbound
        self.channel = channel
        self.hub = hub
        self.logger = logger
    }

    var isClosing: Bool { lock.withLock { closing } }
    var operationCount: Int { lock.withLock { operations.count } }

    func signedIn(_ principal: Principal, token: String) { lock.withLock { session = (principal, token) } }

    /// Writes one text message; false once the connection is closing or the write failed.
    @discardableResult
    func send(_ text: String) async -> Bool {
        guard !isClosing else { return false }
        do {
            try await outbound.write(.text(text))
            return true
        } catch {
            return false
        }
    }

    /// Registers an operation under the client's id; false when the id is taken (or closing).
    func start(_ operation: String, _ task: @escaping @Sendable () async -> Void) -> Bool {
        lock.withLock {
            guard !closing, operations[operation] == nil else { return false }
            // The task may finish before it is stored; `finished` tolerates that order.
            operations[operation] = Task { await task() }
            return true
        }
    }

    func has(_ operation: String) -> Bool { lock.withLock { operations[operation] != nil } }

    /// Ties a hub subscriber to an operation (so it is dropped with it); false if the operation
    /// was completed or the connection closed meanwhile.
    func attach(_ operation: String, _ subscriber: LiveSubscriber) -> Bool {
        let attached = lock.withLock { () -> Bool in
            guard !closing, operations[operation] != nil else { return false }
            subscribers[operation] = subscriber
            return true
        }
        if !attached { hub.unsubscribe(subscriber) }
        return attached
    }

    /// The client completed an operation, or it ended: its subscriber leaves the hub.
    func finished(_ operation: String, cancel: Bool = false) {
        let (task, subscriber) = lock.withLock { (operations.removeValue(forKey: operation), subscribers.removeValue(forKey: operation)) }
        if cancel { task?.cancel() }
        subscriber.map(hub.unsubscribe)
    }

    /// Marks the connection closing and stops its operations; true the first time.
    private func beginClosing() -> Bool {
        let (first, tasks, subscribers) = lock.withLock { () -> (Bool, [Task<Void, Never>], [LiveSubscriber]) in
            guard !closing else { return (false, [], []) }
            closing = true
            defer {
                operations = [:]
                self.subscribers = [:]
            }
            return (true, Array(operations.values), Array(self.subscribers.values))
        }
        for subscriber in subscribers { hub.unsubscribe(subscriber) }
        for task in tasks { task.cancel() }
        return first
    }

    /// Sends the close frame and waits for it (at most a second: a client that stopped reading
    /// cannot take it, and its channel is then closed outright).
    func close(_ code: Int, _ reason: String) async {
        guard beginClosing() else { return }
        logger.debug("live socket \(id) closing: \(code) \(reason)")
        let sent = await withTaskGroup(of: Bool.self) { group in
            group.addTask { [outbound] in
                (try? await outbound.close(WebSocketErrorCode(codeNumber: code), reason: String(reason.utf8.prefix(120)) ?? "")) != nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !sent { channel.close(promise: nil) }
    }

    /// Closing from outside the connection's own task (the hub's thread, a session check).
    func closeSoon(_ code: Int, _ reason: String) {
        Task { await close(code, reason) }
    }

    /// Closing because the handler ends (the client went away): stops what still runs.
    func ended() { _ = beginClosing() }
}

/// Every live connection of this instance with a session, so that a revoked or expired token
/// closes its sockets: checked again when the bus says a session of that employee or till
/// changed (login elsewhere, logout, termination), and every `sessionCheckSeconds`.
public final class LiveSessions: @unchecked Sendable {
    // @unchecked: `connections` is guarded by `lock`.
    let signIn: SignIn
    let settings: LiveSettings
    private let lock = NSLock()
    private var connections: [Int: LiveConnection] = [:]
    private var sweeper: Task<Void, Never>?

    public init(signIn: SignIn, settings: LiveSettings, hub: LiveHub) {
        self.signIn = signIn
        self.settings = settings
        hub.observeSessions { [weak self] event in self?.sessionChanged(event) }
    }

    var count: Int { lock.withLock { connections.count } }

    func add(_ connection: LiveConnection) { lock.withLock { connections[connection.id] = connection } }
    func remove(_ connection: LiveConnection) { lock.withLock { connections[connection.id] = nil } }

    private func sessionChanged(_ event: LiveEvent) {
        let affected = lock.withLock {
            connections.values.filter { connection in
                guard let session = connection.session else { return false }
                return session.principal.employeeId == event.employeeId || session.principal.terminalId == event.terminalId
            }
        }
        for connection in affected { check(connection, grace: settings.revokedGraceMilliseconds) }
    }

    /// Closes the connection (4401, with the reason) if its token no longer signs anyone in.
    func check(_ connection: LiveConnection, grace: Int) {
        guard let session = connection.session else { return }
        let signIn = signIn
        Task {
            do {
                _ = try await signIn.authenticate(session.token)
            } catch let error as CheckoutError where error.code == .unauthenticated {
                if grace > 0 { try? await Task.sleep(for: .milliseconds(grace)) }
                await connection.close(4401, error.message)
            } catch {
                // The database did not answer: keep the socket, check again on the next sweep.
            }
        }
    }

    public func startSweeping() {
        let seconds = settings.sessionCheckSeconds
        sweeper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(seconds))
                guard let self else { return }
                for connection in lock.withLock({ Array(connections.values) }) { check(connection, grace: 0) }
            }
        }
    }

    public func stop() { sweeper?.cancel() }
}
