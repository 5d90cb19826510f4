import Synchronization

/// The event types installed plugins define (ABI 1.1 `event_types`), beside the catalog's own:
/// the ingress accepts them with `unknown_types: reject`, emits are checked against their
/// payload schemas, and `pluginctl events` lists them.
///
/// A type belongs to the first plugin that defines it; another plugin defining the same name
/// is refused at start. Types stay defined while their plugin is configured (also while it is
/// disabled: its earlier events are still on the topic for others to read).
public final class EventTypeRegistry: Sendable {
    public struct Entry: Sendable {
        public let plugin: String
        public let declaration: EventTypeDeclaration
        public let schema: JSONSchema?
    }

    public struct Conflict: Error, CustomStringConvertible {
        public let description: String
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Makes `types` the ones `plugin` defines (replacing what it defined before). Nothing
    /// changes when one of them is another plugin's.
    public func define(_ types: [EventTypeDeclaration], for plugin: String) throws(Conflict) {
        var built: [Entry] = []
        for type in types {
            // Validated when the descriptor was read: a schema that parsed then parses now.
            let schema = type.payloadSchema.flatMap { try? JSONSchema($0) }
            built.append(Entry(plugin: plugin, declaration: type, schema: schema))
        }
        let conflict: String? = entries.withLock { table in
            for entry in built {
                if let owner = table[entry.declaration.name], owner.plugin != plugin {
                    return "event type \(entry.declaration.name) is already defined by the plugin \(owner.plugin); rename it (prefix it with your plugin's name) or remove one of the plugins"
                }
            }
            table = table.filter { $0.value.plugin != plugin }
            for entry in built { table[entry.declaration.name] = entry }
            return nil
        }
        if let conflict { throw Conflict(description: conflict) }
    }

    /// Forgets the types of a plugin that is no longer configured.
    public func forget(plugin: String) {
        entries.withLock { table in table = table.filter { $0.value.plugin != plugin } }
    }

    public func entry(for type: String) -> Entry? { entries.withLock { $0[type] } }

    /// Every defined type, by name.
    public var all: [Entry] { entries.withLock { $0.values.sorted { $0.declaration.name < $1.declaration.name } } }

    /// Why `payload` (JSON bytes) is not a valid `type` event, or nil when it is (or the type
    /// has no schema, or is not defined here).
    public func problem(with payload: JSONValue, of type: String) -> String? {
        guard let schema = entry(for: type)?.schema else { return nil }
        let violations = schema.violations(of: payload)
        guard !violations.isEmpty else { return nil }
        return "payload of \(type) does not satisfy its schema: " + violations.prefix(3).map(\.description).joined(separator: "; ")
    }
}
