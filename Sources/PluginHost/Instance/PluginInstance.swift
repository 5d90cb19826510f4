/// What a dispatcher needs from a running plugin: the seam between dispatch and where the
/// plugin runs. ``InProcessPluginInstance`` calls the function table directly; a worker-process
/// implementation (isolation: process) forwards batches over a socket.
///
/// Contract: `handle` is called by one lane at a time per key; the instance serialises calls
/// itself when the plugin did not declare concurrent keys.
public protocol PluginInstance: AnyObject, Sendable {
    var manifest: PluginManifest { get }

    /// Handles events in order, stopping at the first that is not handled or when `shouldStop`
    /// turns true. Returns one report per event attempted (so fewer than `events.count` when it
    /// stopped early). `attempts[i]` is the delivery attempt of `events[i]`, starting at 1.
    func handle(_ events: ArraySlice<Event>, attempts: ArraySlice<Int>, shouldStop: () -> Bool) -> [HandleReport]

    /// Answers a named query (read-only).
    func query(_ name: String, request: [UInt8]) -> QueryResult

    /// Applies new validated settings; on failure the instance keeps its previous settings.
    func reconfigure(settings: JSONValue) throws(PluginLoadError)

    /// Releases the instance. No call is in progress or will follow.
    func shutdown()

    /// The worker process behind the instance, if it has one.
    var supervisionStatus: WorkerStatus? { get }
}

extension PluginInstance {
    public var supervisionStatus: WorkerStatus? { nil }
}

/// What happened to one event in a batch and how long the plugin took.
public struct HandleReport: Sendable, Equatable {
    public var outcome: HandleOutcome
    public var nanoseconds: UInt64
    public init(outcome: HandleOutcome, nanoseconds: UInt64) {
        self.outcome = outcome
        self.nanoseconds = nanoseconds
    }
}

/// The result of one handle_event call.
public enum HandleOutcome: Sendable, Equatable {
    case handled
    case retry(String)
    case reject(String)
    /// The plugin cannot take events right now (its worker is restarting or quarantined): the
    /// dispatcher waits and offers the same events again without counting an attempt.
    case unavailable(String, retryAfterMilliseconds: Int)
}

public enum QueryResult: Sendable, Equatable {
    case answer([UInt8])
    case unknownQuery(String)
    case failed(String)
}
