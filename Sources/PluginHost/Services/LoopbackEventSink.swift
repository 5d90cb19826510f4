import Foundation

/// A file run's emitted events (no Kafka): each is written by `inner` (emitted_events_file)
/// and then handed to the plugins that subscribe to its type, as a Kafka host does by reading
/// it back from the bus, so a plugin that consumes another plugin's events can be tried with
/// `pos-host --events FILE`. Delivery is in emission order, not the total order of the Kafka
/// bus (docs/events.md). A thread of its own routes them: a handler's thread never waits on
/// another plugin's full queue (two plugins feeding each other could wait on each other forever).
final class LoopbackEventSink: EmittedEventSink, @unchecked Sendable {
    // @unchecked: every var is guarded by `condition`.
    let inner: any EmittedEventSink
    private let condition = NSCondition()
    private var queue: [Event] = []
    private var busy = false
    private var stopped = false
    private var routed = 0
    private var route: (@Sendable (Event) -> Void)?

    init(inner: any EmittedEventSink) { self.inner = inner }

    func publish(_ events: [Event]) throws {
        try inner.publish(events)
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        queue.append(contentsOf: events)
        condition.broadcast()
    }

    func flush() throws { try inner.flush() }

    /// Starts routing with `route` (which must not publish back into this sink synchronously).
    func start(route: @escaping @Sendable (Event) -> Void) {
        condition.lock()
        self.route = route
        condition.unlock()
        let thread = Thread { [self] in loop() }
        thread.name = "pos-loopback"
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if stopped {
                condition.unlock()
                return
            }
            let batch = queue
            queue = []
            busy = true
            let route = self.route
            condition.unlock()
            for event in batch { route?(event) }
            condition.lock()
            busy = false
            routed += batch.count
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Waits until everything published so far has been routed; returns how many events were
    /// routed since the start (a drain repeats until this stops changing).
    func settle() -> Int {
        condition.lock()
        defer { condition.unlock() }
        while (!queue.isEmpty || busy) && !stopped { condition.wait() }
        return routed
    }

    /// Stops routing; what was not routed yet is dropped (it is in emitted_events_file).
    func stop() {
        condition.lock()
        stopped = true
        queue = []
        condition.broadcast()
        condition.unlock()
    }
}
