import Foundation
import Logging
import PluginIPC
import Synchronization

/// A plugin instance in its own worker process (`isolation: process`): same ABI and dispatcher
/// as in-process, with the plugin's crashes, hangs and leaks contained.
///
/// - Calls go over the worker's socket one at a time; a batch is one request, answered with one
///   result per event, each applied (state committed, emits published) as it arrives, so a crash
///   loses nothing that was reported and pins the blame on the event in flight.
/// - The event in flight when the worker dies or overruns its deadline is reported as a retry
///   ("worker crashed: killed by SIGSEGV ..."), so the dispatcher retries it with its attempt
///   count and dead-letters it when attempts run out: one poison event cannot block the plugin.
/// - The worker is restarted on the next call after an exponential backoff; while waiting,
///   calls answer `.unavailable` (the dispatcher waits without spending attempts).
/// - Too many crashes within the window quarantine the plugin: `onQuarantine` is called (once,
///   on another thread) and every later call answers `.unavailable` until the registry stops it.
/// - `upgrade` starts a worker with a new library and switches to it between two calls.
public final class WorkerPluginInstance: PluginInstance, @unchecked Sendable {
    // @unchecked: `worker`, `history`, `settings`, `library` and `currentEvent` are only touched
    // under `callLock`; `described` is a Mutex.
    public let name: String
    let context: PluginRuntimeContext
    let sink: any EmittedEventSink
    let supervision: SupervisionSettings
    let onQuarantine: @Sendable (String) -> Void
    private let callLock = NSLock()
    private let described: Mutex<PluginDescription>
    /// The library's path as configured, and the snapshot its workers load (see LibrarySnapshots).
    private var library: (path: String, snapshot: String)
    private var settings: JSONValue
    private var worker: WorkerProcess?
    private var history: CrashHistory
    private var restartNotBefore: UInt64 = 0
    private var restarts = 0
    private var currentEvent: Event?
    /// After a crash that could not be pinned on one event, this many events go one per batch,
    /// so the next crash names its event exactly (and only then spends one of its attempts).
    private var carefulEvents = 0
    private let counters = WorkerCounters()

    /// Starts a worker for `path`, checks its descriptor (it must name plugin `name`) and
    /// creates the instance with `overrides` over the descriptor's defaults. Throws what stopped
    /// it, with the crash or hang described when the plugin took its worker down.
    public init(
        name: String, path: String, sha256: String?, overrides: JSONValue, marks: SettingsMarks = SettingsMarks(), context: PluginRuntimeContext, sink: any EmittedEventSink,
        supervision: SupervisionSettings, onQuarantine: @escaping @Sendable (String) -> Void
    ) throws(PluginLoadError) {
        self.name = name
        self.context = context
        self.sink = sink
        self.supervision = supervision
        self.onQuarantine = onQuarantine
        self.history = CrashHistory(settings: supervision)
        let started = try Self.launch(name: name, path: path, sha256: sha256, settings: .overrides(overrides, marks), context: context, supervision: supervision)
        self.worker = started.worker
        self.described = Mutex(started.description)
        context.declaredEmits.withLock { $0 = started.description.manifest.emits }
        self.settings = started.settings
        self.library = (path, started.snapshot)
    }

    public var manifest: PluginManifest { described.withLock { $0.manifest } }
    public var pluginDescription: PluginDescription { described.withLock { $0 } }

    // MARK: - Starting workers

    enum SettingsSource {
        case overrides(JSONValue, SettingsMarks)
        case effective(JSONValue)
    }

    struct Started {
        var worker: WorkerProcess
        var description: PluginDescription
        var settings: JSONValue
        var snapshot: String
    }

    /// Loads the plugin into a fresh worker and creates its instance: the path of a first start,
    /// a restart after a crash and an upgrade alike.
    static func launch(
        name: String?, path: String, sha256: String?, settings source: SettingsSource?, context: PluginRuntimeContext?,
        supervision: SupervisionSettings
    ) throws(PluginLoadError) -> Started {
        let real = try PluginLoader.preflight(path: path, sha256: nil)
        let snapshot = try LibrarySnapshots.store(real, pin: sha256)
        let worker: WorkerProcess
        do { worker = try WorkerProcess.spawn(settings: supervision) } catch { throw PluginLoadError(.crashed, path: path, error.description) }
        var succeeded = false
        defer {
            if !succeeded {
                worker.kill()
                worker.reap()
            }
        }
        let deadline = FrameChannel.monotonicMilliseconds() + UInt64(supervision.loadTimeoutMilliseconds)
        func lost(_ what: String) -> PluginLoadError {
            if case .timedOut = lastReceive {
                return PluginLoadError(.crashed, path: path, "\(what) did not finish within \(supervision.loadTimeoutMilliseconds) ms (the plugin hangs); killed")
            }
            return PluginLoadError(.crashed, path: path, "the plugin crashed while \(what) (its worker \(worker.reap()))")
        }
        var lastReceive: FrameChannel.Received = .timedOut
        func receive() -> (WorkerMessage, WireReader)? {
            let remaining = Int(deadline) - Int(FrameChannel.monotonicMilliseconds())
            lastReceive = remaining > 0 ? worker.channel.receive(timeoutMilliseconds: remaining) : .timedOut
            guard case .frame(let kind, let payload) = lastReceive, let message = WorkerMessage(rawValue: kind) else {
                if case .frame = lastReceive { lastReceive = .closed("unknown message") }
                return nil
            }
            return (message, WireReader(payload))
        }

        var load = FrameChannel.frame(HostMessage.load.rawValue)
        load.string(snapshot)
        do { try worker.channel.send(load) } catch { throw lost("loading") }
        guard case (let message, var reader)? = receive() else { throw lost("loading") }
        let description: PluginDescription
        do {
            switch message {
            case .loadFailed:
                guard let stage = PluginOpener.Stage(rawValue: try reader.u8()) else { throw WireError("unknown stage") }
                throw PluginLoader.error(opening: path, PluginOpener.Failure(stage: stage, detail: try reader.string()))
            case .descriptor:
                description = try PluginLoader.validate(RawDescriptor(from: &reader), path: path)
            default:
                throw WireError("unexpected message \(message)")
            }
        } catch let error as PluginLoadError {
            throw error
        } catch {
            throw PluginLoadError(.crashed, path: path, "the worker broke the protocol while loading: \(error)")
        }
        if let name { try PluginLoader.checkName(description.manifest.name, expected: name, path: path) }
        guard let source, let context else {
            succeeded = true
            return Started(worker: worker, description: description, settings: .object([:]), snapshot: snapshot)
        }
        let settings: JSONValue
        switch source {
        case .overrides(let overrides, let marks): settings = try description.effectiveSettings(overrides, marks: marks)
        case .effective(let effective): settings = effective
        }
        var create = FrameChannel.frame(HostMessage.create.rawValue, capacity: 1024)
        create.string(settings.jsonText)
        create.i64(context.clock.nowMilliseconds())
        do { try worker.channel.send(create) } catch { throw lost("creating its instance") }
        // create may read state: answer until its final frame.
        while true {
            guard case (let message, var reader)? = receive() else { throw lost("creating its instance") }
            do {
                switch message {
                case .stateGet, .stateScan, .log:
                    try answerService(message, &reader, worker: worker, context: context, event: nil)
                    continue
                case .done:
                    let ok = try reader.bool()
                    let reason = try reader.string()
                    guard ok else { throw PluginLoadError(.createFailed, path: path, "create failed: \(reason.isEmpty ? "the plugin gave no reason" : reason)") }
                    let effects = try CallEffects(from: &reader)
                    let call = PluginCall(kind: .create, context: context)
                    apply(effects.writes, to: call)
                    do { try call.transaction.commit() } catch {
                        throw PluginLoadError(.createFailed, path: path, "create failed: its initial state could not be stored: \(error)")
                    }
                    succeeded = true
                    return Started(worker: worker, description: description, settings: settings, snapshot: snapshot)
                default:
                    throw WireError("unexpected message \(message)")
                }
            } catch let error as PluginLoadError {
                throw error
            } catch {
                throw PluginLoadError(.crashed, path: path, "the worker broke the protocol while creating: \(error)")
            }
        }
    }

    static func apply(_ writes: [(key: [UInt8], value: [UInt8]?)], to call: PluginCall) {
        for write in writes {
            if let value = write.value { call.transaction.put(write.key, value) } else { call.transaction.delete(write.key) }
        }
    }

    /// Answers a service request from the worker (state reads, logs).
    /// Answers a worker's service request. `overlay`: writes of this batch's handled events not
    /// committed yet (last write per key; nil deletes), which reads must see as committed.
    static func answerService(
        _ message: WorkerMessage, _ reader: inout WireReader, worker: WorkerProcess, context: PluginRuntimeContext, event: Event?,
        overlay: [[UInt8]: [UInt8]?] = [:]
    ) throws {
        switch message {
        case .stateGet:
            let key = try reader.data()
            var answer = FrameChannel.frame(HostMessage.stateValue.rawValue, capacity: 64)
            do {
                let value = try overlay[key] ?? context.store.get(plugin: context.name, key: key)
                answer.u8(value == nil ? 0 : 1)
                if let value { answer.data(value) }
            } catch {
                context.logger.warning("state store unavailable, waiting: \(error)")
                answer.u8(2)
            }
            try worker.channel.send(answer)
        case .stateScan:
            let prefix = try reader.data()
            var answer = FrameChannel.frame(HostMessage.scanResult.rawValue, capacity: 1024)
            let entries: [(key: [UInt8], value: [UInt8])]
            do {
                entries = try Self.overlaid(context.store.scan(plugin: context.name, prefix: prefix), prefix: prefix, overlay)
                answer.u8(0)
            } catch {
                context.logger.warning("state store unavailable, waiting: \(error)")
                answer.u8(2)
                entries = []
            }
            answer.u32(UInt32(entries.count))
            for entry in entries {
                answer.data(entry.key)
                answer.data(entry.value)
            }
            try worker.channel.send(answer)
        case .log:
            let level = try reader.u8()
            let line = try reader.string()
            let swiftLevel: Logger.Level = [0: .trace, 1: .debug, 2: .info, 3: .warning][level] ?? .error
            if let event {
                context.logger.log(level: swiftLevel, "\(line)", metadata: ["event_id": .string(event.id)])
            } else {
                context.logger.log(level: swiftLevel, "\(line)")
            }
        default:
            throw WireError("\(message) is not a service request")
        }
    }

    // MARK: - Supervision

    /// The worker, restarting it if it died and its backoff has passed; otherwise why not.
    enum Availability {
        case live(WorkerProcess)
        case unavailable(HandleOutcome)
    }

    private func liveWorker() -> Availability {
        let now = FrameChannel.monotonicNanoseconds()
        if history.quarantined { return .unavailable(.unavailable("quarantined after repeated crashes", retryAfterMilliseconds: 100)) }
        if let worker { return .live(worker) }
        if now < restartNotBefore {
            return .unavailable(.unavailable("restarting after a crash", retryAfterMilliseconds: Int((restartNotBefore - now) / 1_000_000) + 1))
        }
        let started = FrameChannel.monotonicNanoseconds()
        do {
            let launched = try Self.launch(
                name: name, path: library.snapshot, sha256: nil, settings: .effective(settings), context: context, supervision: supervision)
            worker = launched.worker
            restarts += 1
            counters.restarts.add(1, ordering: .relaxed)
            counters.lastRestartNanoseconds.store(FrameChannel.monotonicNanoseconds() - started, ordering: .relaxed)
            context.logger.notice("worker restarted", metadata: ["pid": .stringConvertible(launched.worker.pid), "restarts": .stringConvertible(restarts)])
            return .live(launched.worker)
        } catch {
            crashed("could not restart: \(error.reason)")
            return .unavailable(.unavailable("restart failed: \(error.reason)", retryAfterMilliseconds: history.backoffMilliseconds))
        }
    }

    /// Records that the worker is gone (already reaped) and why; schedules the restart.
    private func crashed(_ reason: String) {
        worker = nil
        let now = FrameChannel.monotonicNanoseconds()
        let health = history.recordCrash(reason, at: now)
        counters.crashes.add(1, ordering: .relaxed)
        restartNotBefore = now + UInt64(history.backoffMilliseconds) * 1_000_000
        switch health {
        case .quarantined:
            context.logger.critical(
                "plugin quarantined: \(supervision.quarantineAfterCrashes) crashes within \(supervision.crashWindowSeconds) s; its events stay on the bus until pluginctl restart \(name)",
                metadata: ["reason": .string(reason)])
            let notify = onQuarantine
            Thread.detachNewThread { notify(reason) }
        default:
            context.logger.error(
                "worker crashed; restarting in \(history.backoffMilliseconds) ms", metadata: ["reason": .string(reason), "health": .string(health.rawValue)])
        }
    }

    /// Kills and reaps the worker after it overran, broke the protocol or closed its socket.
    private func lose(_ worker: WorkerProcess, _ what: String, since: UInt64 = FrameChannel.monotonicNanoseconds(), timedOut: Bool) -> String {
        let reason: String
        if timedOut {
            worker.kill()
            worker.reap()
            reason = "deadline of \(supervision.deadlineMilliseconds) ms exceeded \(what); the worker was killed"
        } else {
            reason = "worker \(worker.reap()) \(what)"
        }
        // From the last thing sent or received to the worker reaped: an upper bound of the time
        // it took to notice the crash (the deadline itself for a hang).
        counters.lastDetectionNanoseconds.store(FrameChannel.monotonicNanoseconds() - since, ordering: .relaxed)
        crashed(reason)
        return reason
    }

    enum Exchange {
        case frame(WorkerMessage, WireReader)
        case lost(timedOut: Bool)
    }

    /// The next frame of the current call, answering service requests on the way.
    /// A scan's entries with the batch's uncommitted writes under `prefix` applied, in key order.
    static func overlaid(_ entries: [(key: [UInt8], value: [UInt8])], prefix: [UInt8], _ overlay: [[UInt8]: [UInt8]?]) -> [(key: [UInt8], value: [UInt8])] {
        let mine = overlay.filter { $0.key.starts(with: prefix) }
        guard !mine.isEmpty else { return entries }
        var merged: [[UInt8]: [UInt8]] = [:]
        for entry in entries { merged[entry.key] = entry.value }
        for (key, value) in mine { merged[key] = value }
        return merged.map { (key: $0.key, value: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    private func next(from worker: WorkerProcess, deadline: UInt64, overlay: () -> [[UInt8]: [UInt8]?] = { [:] }) -> Exchange {
        while true {
            let remaining = deadline > FrameChannel.monotonicMilliseconds() ? Int(deadline - FrameChannel.monotonicMilliseconds()) : 0
            switch worker.channel.receive(timeoutMilliseconds: remaining) {
            case .timedOut: return .lost(timedOut: true)
            case .closed: return .lost(timedOut: false)
            case .frame(let kind, let payload):
                guard let message = WorkerMessage(rawValue: kind) else { return protocolError(worker, "unknown message \(kind)") }
                var reader = WireReader(payload)
                switch message {
                case .stateGet, .stateScan, .log:
                    do {
                        try Self.answerService(message, &reader, worker: worker, context: context, event: currentEvent, overlay: message == .log ? [:] : overlay())
                    } catch {
                        return protocolError(worker, "\(error)")
                    }
                default:
                    return .frame(message, reader)
                }
            }
        }
    }

    private func protocolError(_ worker: WorkerProcess, _ detail: String) -> Exchange {
        context.logger.error("worker broke the protocol, killing it: \(detail)")
        worker.kill()
        return .lost(timedOut: false)
    }

    private func deadline() -> UInt64 { FrameChannel.monotonicMilliseconds() + UInt64(supervision.deadlineMilliseconds) }

    // MARK: - PluginInstance

    public func handle(_ events: ArraySlice<Event>, attempts: ArraySlice<Int>, shouldStop: () -> Bool) -> [HandleReport] {
        callLock.lock()
        defer {
            currentEvent = nil
            callLock.unlock()
        }
        guard !events.isEmpty else { return [] }
        let worker: WorkerProcess
        switch liveWorker() {
        case .unavailable(let outcome): return [HandleReport(outcome: outcome, nanoseconds: 0)]
        case .live(let live): worker = live
        }
        if shouldStop() { return [] }
        let careful = carefulEvents > 0
        let sent = careful ? events.prefix(1) : events
        let clock = context.clock.nowMilliseconds()
        var frame = FrameChannel.frame(HostMessage.batch.rawValue, capacity: sent.reduce(64) { $0 + $1.payload.count + $1.id.utf8.count + 96 })
        frame.u32(UInt32(max(1, min(10_000, supervision.deadlineMilliseconds * 1000 / 4))))
        frame.u32(UInt32(sent.count))
        for (event, attempt) in zip(sent, attempts) {
            WireEvent(
                id: event.id, type: event.type, key: event.key, timeMilliseconds: event.timeMilliseconds, payload: event.payload,
                attempt: UInt32(clamping: attempt), clockMilliseconds: clock
            ).encode(into: &frame)
        }
        var reports: [HandleReport] = []
        reports.reserveCapacity(events.count)
        var index = events.startIndex
        currentEvent = events[index]
        do { try worker.channel.send(frame) } catch {
            let reason = lose(worker, "before event \(events[index].id)", since: FrameChannel.monotonicNanoseconds(), timedOut: false)
            return [HandleReport(outcome: .retry(reason), nanoseconds: 0)]
        }
        var eventDeadline = deadline()
        var sentAt = FrameChannel.monotonicNanoseconds()
        var commitFailed = false
        var discardedEffects = false
        // Handled results are committed together: at the end of the batch and before handling
        // a crash (what was reported was done). State reads meanwhile see their writes through
        // `pendingWrites` (a commit per read made batches of ~6 events: ADR 21).
        var pending: [(report: Int, call: PluginCall)] = []
        var pendingWrites: [[UInt8]: [UInt8]?] = [:]
        func commitPending() {
            pendingWrites = [:]
            guard !pending.isEmpty, !commitFailed else { return }
            let outcome = PluginCall.finish(pending.map(\.call), context: context, publishingTo: sink)
            if outcome != .handled {
                reports.removeSubrange(pending[0].report...)
                reports.append(HandleReport(outcome: outcome, nanoseconds: 0))
                commitFailed = true
            }
            pending.removeAll()
        }
        while true {
            let exchange = next(from: worker, deadline: eventDeadline, overlay: { pendingWrites })
            if case .frame(.eventResult, _) = exchange {} else { commitPending() }
            switch exchange {
            case .lost(let timedOut):
                guard index < sent.endIndex, !commitFailed else {
                    _ = lose(worker, "after its last result", since: sentAt, timedOut: timedOut)
                    return reports
                }
                let unreported = sent.endIndex - index
                if unreported == 1 {
                    let reason = lose(worker, "while handling event \(events[index].id)", since: sentAt, timedOut: timedOut)
                    reports.append(HandleReport(outcome: .retry(reason), nanoseconds: FrameChannel.monotonicNanoseconds() - sentAt))
                } else {
                    // Results travel together: which of these events it was is not known yet.
                    let reason = lose(worker, "during a batch of \(unreported) unreported events", since: sentAt, timedOut: timedOut)
                    carefulEvents = unreported
                    reports.append(HandleReport(outcome: .unavailable(reason, retryAfterMilliseconds: history.backoffMilliseconds), nanoseconds: 0))
                }
                return reports
            case .frame(.batchEnd, _):
                if commitFailed || discardedEffects { try? worker.channel.send(HostMessage.forgetCache.rawValue) }
                if reports.contains(where: { $0.outcome == .handled }) { history.recordProgress() }
                if careful { carefulEvents -= reports.count }
                return reports
            case .frame(.eventResult, var reader):
                guard index < sent.endIndex, let result = try? EventResult(from: &reader) else {
                    let reason = lose(worker, "(it sent a malformed or extra result)", since: sentAt, timedOut: false)
                    context.logger.error("\(reason)")
                    return reports
                }
                // After a result the host could not commit, later results built on it are dropped
                // (the dispatcher retries from the failed event).
                if !commitFailed {
                    let event = events[index]
                    let outcome: HandleOutcome
                    switch result.outcome {
                    case .handled:
                        let (call, refusal) = prepare(event, result.effects)
                        if let refusal {
                            // Its state writes are in the worker's cache already: drop the cache.
                            discardedEffects = true
                            outcome = .reject(refusal)
                        } else {
                            pending.append((reports.count, call))
                            for (key, value) in call.transaction.writes { pendingWrites[key] = .some(value) }
                            outcome = .handled
                        }
                    case .retry: outcome = .retry(result.message.isEmpty ? "the plugin asked for a retry (no reason given)" : result.message)
                    case .reject: outcome = .reject(result.message.isEmpty ? "rejected by the plugin (no reason given)" : result.message)
                    case .unavailable: outcome = .unavailable("the state store is unavailable", retryAfterMilliseconds: 500)
                    }
                    reports.append(HandleReport(outcome: outcome, nanoseconds: result.nanoseconds))
                }
                index += 1
                currentEvent = index < sent.endIndex ? events[index] : nil
                eventDeadline = deadline()
                sentAt = FrameChannel.monotonicNanoseconds()
            case .frame(let other, _):
                let reason = lose(worker, "(it sent \(other) during a batch)", timedOut: false)
                context.logger.error("\(reason)")
                return reports
            }
        }
    }

    /// A handled event's effects as a call ready to commit, checked as in-process calls are;
    /// with the reason when an emitted event is refused (the worker's emit could not check a
    /// defined type's schema, which lives here): then nothing of the call is applied and the
    /// event is dead-lettered with the reason, rather than committing state without its event.
    private func prepare(_ event: Event, _ effects: CallEffects) -> (PluginCall, String?) {
        let call = PluginCall(kind: .handleEvent, context: context, event: event)
        Self.apply(effects.writes, to: call)
        for emitted in effects.emitted {
            // Checked again here: the worker runs untrusted code.
            do { try call.emit(type: emitted.type, key: emitted.key, payload: emitted.payload) } catch {
                context.logger.error("emitted event refused: \(error)", metadata: ["event_id": .string(event.id)])
                return (call, "an emitted event was refused: \(error)")
            }
        }
        for counter in effects.counters {
            if Names.isCounterName(counter.name) {
                context.metrics.addCustom(counter.name, counter.delta)
            } else {
                context.logger.warning("metric_add ignored: '\(counter.name)' is not a valid counter name ([a-z0-9_], <= 64)")
            }
        }
        return (call, nil)
    }

    public func query(_ name: String, request: [UInt8]) -> QueryResult {
        callLock.lock()
        defer { callLock.unlock() }
        let worker: WorkerProcess
        switch liveWorker() {
        case .unavailable(let outcome):
            if case .unavailable(let why, _) = outcome { return .failed("plugin unavailable: \(why)") }
            return .failed("plugin unavailable")
        case .live(let live): worker = live
        }
        var frame = FrameChannel.frame(HostMessage.query.rawValue, capacity: request.count + 64)
        frame.string(name)
        frame.data(request)
        frame.i64(context.clock.nowMilliseconds())
        do { try worker.channel.send(frame) } catch { return .failed(lose(worker, "before query \(name)", timedOut: false)) }
        switch next(from: worker, deadline: deadline()) {
        case .lost(let timedOut):
            return .failed(lose(worker, "answering query \(name)", timedOut: timedOut))
        case .frame(.answer, var reader):
            guard let status = try? reader.u8(), let answer = try? reader.data(), let message = try? reader.string() else {
                return .failed(lose(worker, "(malformed answer)", timedOut: false))
            }
            switch status {
            case 0: return .answer(answer)
            case 1: return .unknownQuery(message.isEmpty ? name : message)
            default: return .failed(message.isEmpty ? "query failed (no reason given)" : message)
            }
        case .frame(let other, _):
            return .failed(lose(worker, "(it sent \(other) instead of an answer)", timedOut: false))
        }
    }

    public func reconfigure(settings newSettings: JSONValue) throws(PluginLoadError) {
        callLock.lock()
        defer { callLock.unlock() }
        guard let worker else {
            settings = newSettings  // applied by the next start
            return
        }
        let path = library.path
        // Without live reconfigure the worker re-creates the instance (keeping the old one if that fails).
        let live = manifest.supportsReconfigure
        var frame = FrameChannel.frame(live ? HostMessage.reconfigure.rawValue : HostMessage.create.rawValue, capacity: 1024)
        frame.string(newSettings.jsonText)
        frame.i64(context.clock.nowMilliseconds())
        do { try worker.channel.send(frame) } catch {
            throw PluginLoadError(.crashed, path: path, lose(worker, "before reconfigure", timedOut: false))
        }
        switch next(from: worker, deadline: deadline()) {
        case .lost(let timedOut):
            throw PluginLoadError(.crashed, path: path, lose(worker, "while reconfiguring", timedOut: timedOut))
        case .frame(.done, var reader):
            let ok = (try? reader.bool()) ?? false
            let reason = (try? reader.string()) ?? ""
            guard ok else {
                throw PluginLoadError(.createFailed, path: path, "\(live ? "reconfigure" : "create with the new settings") failed: \(reason.isEmpty ? "no reason given" : reason)")
            }
            if !live, let effects = try? CallEffects(from: &reader) {
                let call = PluginCall(kind: .create, context: context)
                Self.apply(effects.writes, to: call)
                try? call.transaction.commit()
            }
            settings = newSettings
        case .frame(let other, _):
            throw PluginLoadError(.crashed, path: path, lose(worker, "(it sent \(other) instead of done)", timedOut: false))
        }
    }

    /// Starts a worker with the library at `path`, and switches to it once it is created; the
    /// old worker finishes the call in progress and is retired. If anything fails the old
    /// worker keeps running and the error says why.
    /// Returns nil when the file holds the build that already runs (nothing to do).
    public func upgrade(path: String, sha256: String?, overrides: JSONValue, marks: SettingsMarks = SettingsMarks()) throws(PluginLoadError) -> PluginDescription? {
        let running = callLock.withLock { library.snapshot }
        if try LibrarySnapshots.store(path, pin: sha256) == running {
            callLock.withLock { library.path = path }
            return nil
        }
        let started = try Self.launch(name: name, path: path, sha256: sha256, settings: .overrides(overrides, marks), context: context, supervision: supervision)
        callLock.lock()
        let old = worker
        worker = started.worker
        library = (path, started.snapshot)
        settings = started.settings
        described.withLock { $0 = started.description }
        context.declaredEmits.withLock { $0 = started.description.manifest.emits }
        history = CrashHistory(settings: supervision)
        restartNotBefore = 0
        callLock.unlock()
        if let old { Self.retire(old) }
        context.logger.notice("plugin upgraded", metadata: ["version": .string(started.description.manifest.version), "library": .string(path)])
        return started.description
    }

    /// Asks a worker to destroy its instance and exit; kills it if it does not within a second.
    static func retire(_ worker: WorkerProcess) {
        try? worker.channel.send(HostMessage.shutdown.rawValue)
        worker.reap(graceMilliseconds: 1_000)
    }

    public func shutdown() {
        callLock.lock()
        defer { callLock.unlock() }
        if let worker { Self.retire(worker) }
        worker = nil
    }

    deinit { if let worker { Self.retire(worker) } }

    // MARK: - Status

    public var supervisionStatus: WorkerStatus? {
        callLock.lock()
        defer { callLock.unlock() }
        return WorkerStatus(
            pid: worker.map { Int($0.pid) }, health: history.health(at: FrameChannel.monotonicNanoseconds()), crashes: history.totalCrashes,
            restarts: restarts, lastCrash: history.lastReason, residentKilobytes: worker?.residentKilobytes,
            lastDetectionMicroseconds: Int(counters.lastDetectionNanoseconds.load(ordering: .relaxed) / 1000),
            lastRestartMicroseconds: Int(counters.lastRestartNanoseconds.load(ordering: .relaxed) / 1000))
    }
}

final class WorkerCounters: Sendable {
    let crashes = Atomic<Int>(0)
    let restarts = Atomic<Int>(0)
    let lastDetectionNanoseconds = Atomic<UInt64>(0)
    let lastRestartNanoseconds = Atomic<UInt64>(0)
}

/// A worker-isolated plugin's supervision as `pluginctl status` shows it.
public struct WorkerStatus: Codable, Sendable, Equatable {
    public var pid: Int?
    public var health: PluginHealth
    public var crashes: Int
    public var restarts: Int
    public var lastCrash: String?
    public var residentKilobytes: Int?
    /// From the socket closing (or the deadline) to the worker reaped, for the last crash.
    public var lastDetectionMicroseconds: Int
    /// Spawn, load, create: the last restart.
    public var lastRestartMicroseconds: Int

    enum CodingKeys: String, CodingKey {
        case pid, health, crashes, restarts
        case lastCrash = "last_crash"
        case residentKilobytes = "rss_kb"
        case lastDetectionMicroseconds = "last_detection_us"
        case lastRestartMicroseconds = "last_restart_us"
    }
}
