/// The size limits on what a plugin hands the host: the same in the host process and in a
/// worker, so a plugin never works in one isolation mode and fails in the other. They are
/// documented in docs/plugin-abi.md ("Limits"); a service that refuses returns an error status
/// and the host logs why, attributed to the plugin.
public enum PluginLimits {
    /// A state key: PostgreSQL indexes it, and keys are names, not data.
    public static let stateKeyBytes = 1024
    /// One state value.
    public static let stateValueBytes = 1 << 20
    /// The payload of one emitted event (the default `events.max_event_bytes`).
    public static let emittedPayloadBytes = 1 << 20
    /// Everything one call writes and emits together: it must fit one frame to the host
    /// (FrameChannel.maximumFrameBytes) with room to spare.
    public static let callEffectsBytes = 32 << 20
    /// A query's response.
    public static let queryResponseBytes = 16 << 20
    /// A log message (longer ones are cut, not refused).
    public static let logMessageBytes = 8192

    /// Why a state write of these sizes is refused, or nil when it is within the limits.
    /// `effectsSoFar` is what the call has written and emitted before it.
    public static func stateWriteProblem(keyBytes: Int, valueBytes: Int, effectsSoFar: Int) -> String? {
        if keyBytes > stateKeyBytes { return "state key of \(keyBytes) bytes is over the limit of \(stateKeyBytes) bytes" }
        if valueBytes > stateValueBytes { return "state value of \(valueBytes) bytes is over the limit of \(stateValueBytes) bytes" }
        if effectsSoFar + keyBytes + valueBytes > callEffectsBytes {
            return "this call's writes and emitted events would exceed \(callEffectsBytes >> 20) MiB"
        }
        return nil
    }

    /// Why an emitted payload of this size is refused, or nil when it is within the limits.
    public static func emitProblem(payloadBytes: Int, effectsSoFar: Int) -> String? {
        if payloadBytes > emittedPayloadBytes { return "payload of \(payloadBytes) bytes is over the limit of \(emittedPayloadBytes) bytes" }
        if effectsSoFar + payloadBytes > callEffectsBytes { return "this call's writes and emitted events would exceed \(callEffectsBytes >> 20) MiB" }
        return nil
    }
}
