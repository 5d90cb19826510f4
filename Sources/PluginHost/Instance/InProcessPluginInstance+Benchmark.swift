import PluginABI

extension InProcessPluginInstance {
    /// Calls the plugin's handle_event through its function pointer `count` times with the same
    /// event and one call context, with no queue, no lock, no commit: the floor any dispatch
    /// path is compared with in `scripts/bench`. Returns elapsed nanoseconds.
    public func measureDirectCalls(_ event: Event, count: Int) -> UInt64 {
        guard let instance = rawInstance else { return 0 }
        let call = PluginCall(kind: .handleEvent, context: context, event: event)
        let handleEvent = library.vtable.pointee.handle_event!
        let (elapsed, _) = Self.withCall(call) { handle, error in
            Self.withEventStruct(event, attempt: 1) { raw in
                let started = Monotonic.nanoseconds()
                for _ in 0..<count { _ = handleEvent(instance, handle, raw, error) }
                return Monotonic.nanoseconds() - started
            }
        }
        return elapsed
    }
}
