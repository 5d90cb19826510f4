import POSPlatform

/// Why a plugin gave no decision.
public enum DecisionFailure: Error, Sendable, Equatable {
    /// The plugin had not handled the events in time (or no host owns it right now).
    case pending(String)
    /// No host answered, or the plugin is disabled or failing.
    case unavailable(String)
    /// The plugin answered with an error.
    case refused(String)
}

/// Where pos-api asks plugins for decisions: the answer to a plugin query, given only once the
/// plugin has handled every event at or before `positions` (so the decision sees the basket's
/// whole history), or a failure after `waitMilliseconds`.
public protocol DecisionSource: Sendable {
    func ask(plugin: String, query: String, request: JSONValue, after positions: [PublishedPosition], waitMilliseconds: Int) async -> Result<JSONValue, DecisionFailure>
    /// The hosts' status document (what `pluginctl status` shows), when a host answers.
    func hostStatus() async -> JSONValue?
}

extension DecisionSource {
    /// The hosts' status document (what `pluginctl status` shows), when a host answers.
    public func hostStatus() async -> JSONValue? { nil }
}
