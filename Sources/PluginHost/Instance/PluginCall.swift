import PluginIPC
import Crypto
import Foundation
import Logging
import Synchronization

/// Everything the host services need to know about one plugin: shared by all its calls.
public final class PluginRuntimeContext: Sendable {
    public let name: String
    let logger: Logger
    let metrics: PluginMetrics
    let store: any StateStore
    let clock: any HostClock
    /// The types the loaded plugin declares it emits (nil: any), set once its descriptor is known.
    let declaredEmits = Mutex<[String]?>(nil)
    var emits: [String]? { declaredEmits.withLock { $0 } }
    /// The event types plugins define, to check emitted payloads against their schemas.
    let eventTypes: EventTypeRegistry?

    public init(name: String, logger: Logger, metrics: PluginMetrics, store: any StateStore, clock: any HostClock, eventTypes: EventTypeRegistry? = nil) {
        self.eventTypes = eventTypes
        self.name = name
        var logger = logger
        logger[metadataKey: "plugin"] = .string(name)
        self.logger = logger
        self.metrics = metrics
        self.store = store
        self.clock = clock
    }
}

/// One host->plugin call in progress: what the opaque `pos_call *` handle points to. Lives on
/// the calling thread for the duration of the call only.
final class PluginCall {
    enum Kind: String {
        case create, reconfigure, handleEvent = "handle_event", query
    }

    let kind: Kind
    let context: PluginRuntimeContext
    /// The event being handled (handle_event only).
    let event: Event?
    let transaction: StateTransaction
    private(set) var emitted: [Event] = []
    /// The state store failed to answer a read during the call: whatever the plugin returned,
    /// the event is offered again later without spending an attempt.
    var storeUnavailable = false
    /// Bytes written and emitted so far, held to PluginLimits.callEffectsBytes.
    var effectsBytes = 0

    init(kind: Kind, context: PluginRuntimeContext, event: Event? = nil) {
        self.kind = kind
        self.context = context
        self.event = event
        self.transaction = StateTransaction(plugin: context.name, store: context.store)
    }

    var mayWriteState: Bool { kind == .create || kind == .handleEvent }

    /// Records an event emitted by the plugin. Its id is derived from the plugin, the causing
    /// event and its position, so handling the same event again emits the same ids and
    /// consumers can drop duplicates by id.
    func emit(type: String, key: String, payload: [UInt8]) throws(HostError) {
        guard kind == .handleEvent, let cause = event else { throw HostError("emit is only allowed while handling an event") }
        guard Names.isEventType(type) else { throw HostError("'\(type)' is not a valid event type name") }
        if let declared = context.emits, !declared.contains(type) {
            throw HostError("\(type) is not among the types this plugin declares it emits (\(declared.isEmpty ? "none" : declared.joined(separator: ", ")))")
        }
        // A structural check only for catalog and undeclared types: full JSON validation of every
        // emitted payload would cost more than most handlers, and consumers validate at their
        // ingress (docs/plugin-abi.md). A defined type's payload is held to its schema here, so
        // the author hears of a mistake from emit itself.
        if let problem = PluginLimits.emitProblem(payloadBytes: payload.count, effectsSoFar: effectsBytes) { throw HostError("\(type): \(problem)") }
        guard Names.looksLikeJSONObject(payload) else { throw HostError("payload of \(type) is not a JSON object") }
        if let registry = context.eventTypes, registry.entry(for: type)?.schema != nil {
            guard let value = try? JSONValue.parse(payload) else { throw HostError("payload of \(type) is not valid JSON") }
            if let problem = registry.problem(with: value, of: type) { throw HostError(problem) }
        }
        let id = Self.derivedID("\(context.name)\u{0}\(cause.id)\u{0}\(emitted.count)")
        var event = Event(
            id: id, type: type, key: key.isEmpty ? cause.key : key, timeMilliseconds: cause.timeMilliseconds,
            payload: payload, causationId: cause.id, correlationId: cause.correlationId, source: "plugin:\(context.name)")
        // Sorts right after its cause (and before anything later): see OrderKey.
        event.orderId = OrderKey.emissionID(cause: cause.orderKey.id, emitter: context.name, index: emitted.count)
        emitted.append(event)
        effectsBytes += payload.count + key.utf8.count + type.utf8.count
    }

    /// Completes a successful handle_event: commits the call's state writes, then publishes
    /// what it emitted. A failed commit turns the outcome into a retry (nothing was applied).
    func finish(publishingTo sink: any EmittedEventSink) -> HandleOutcome {
        Self.finish([self], context: context, publishingTo: sink)
    }

    /// Commits several successful handle_event calls of one plugin as one transaction (state,
    /// and with an outbox store also emitted events and positions), then publishes what they
    /// emitted unless the store's outbox relay does.
    static func finish(_ calls: [PluginCall], context: PluginRuntimeContext, publishingTo sink: any EmittedEventSink) -> HandleOutcome {
        var commit = StateCommit()
        for call in calls { commit.add(writes: call.transaction.writes, emitted: call.emitted, position: call.event?.position, applied: call.event?.id) }
        do {
            try context.store.commit(plugin: context.name, commit)
        } catch let error as PostgresError where error.isConnectionFailure {
            // The database is down, not the plugin at fault: wait for it without spending the
            // event's attempts (they would dead-letter healthy events during an outage).
            context.logger.warning("state store unavailable, waiting: \(error)")
            return .unavailable("the state store is unavailable: \(error)", retryAfterMilliseconds: 500)
        } catch let error as PluginOwnership.Lost {
            // Another host took the plugin over: nothing was applied here, and the instance is
            // about to restart; spending attempts would dead-letter healthy events.
            return .unavailable("\(error)", retryAfterMilliseconds: 200)
        } catch {
            return .retry("state could not be committed: \(error)")
        }
        if !commit.emitted.isEmpty && !context.store.keepsOutbox {
            do {
                try sink.publish(commit.emitted)
            } catch {
                context.logger.error("emitted events could not be published: \(error)")
            }
        }
        return .handled
    }

    /// A name-based UUID (version 8 layout over SHA-256) of `name`. Formatted by hand: it runs
    /// for every event without an id and every emitted event, and `String(format:)` (Foundation
    /// varargs and bridging) was 14% of the host's CPU (profiled at fe496d1).
    static func derivedID(_ name: String) -> String {
        var bytes = Array(SHA256.hash(data: Array(name.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
