import Foundation

/// One plugin's settings file, `plugins.d/<name>.yaml`.
public struct PluginConfig: Sendable, Equatable {
    /// Where a plugin runs.
    public typealias Isolation = PluginIsolation

    /// What a plugin reads first when it is enabled again after being disabled.
    public enum EnablePolicy: String, Sendable, Equatable {
        /// Catch up on every event published while it was off (from its committed offsets).
        case resume
        /// Skip what was published while it was off and start from now.
        case latest
    }

    public var name: String
    public var enabled: Bool
    public var onEnable: EnablePolicy = .resume
    /// Absolute path of the shared object.
    public var libraryPath: String
    /// Lower-case hex SHA-256 the library must have, if pinned.
    public var sha256: String?
    public var isolation: Isolation
    /// Overrides the descriptor's subscriptions when set.
    public var subscriptions: [String]?
    public var lanes: Int?
    public var maxAttempts: Int?
    /// Overrides of the host's `supervision` defaults, by key (worker processes only).
    public var supervision: [String: Int] = [:]
    /// The plugin's own settings, layered over its descriptor's defaults.
    public var settings: JSONValue
    /// Where each setting was written, so a schema violation names file:line:column.
    public var settingsMarks = SettingsMarks()

    static let keys = ["enabled", "library", "sha256", "isolation", "subscriptions", "lanes", "max_attempts", "on_enable", "supervision", "settings"]

    public init(
        name: String, enabled: Bool, libraryPath: String, sha256: String? = nil, isolation: Isolation = .process,
        subscriptions: [String]? = nil, lanes: Int? = nil, maxAttempts: Int? = nil, settings: JSONValue = .object([:])
    ) {
        self.name = name
        self.enabled = enabled
        self.libraryPath = libraryPath
        self.sha256 = sha256
        self.isolation = isolation
        self.subscriptions = subscriptions
        self.lanes = lanes
        self.maxAttempts = maxAttempts
        self.settings = settings
    }

    /// Whether `name` is a valid plugin name (the ABI's rule).
    public static func isValidName(_ name: String) -> Bool {
        name.range(of: #"^[a-z][a-z0-9_]{0,63}$"#, options: .regularExpression) != nil
    }

    /// Parses the settings file of plugin `name` found in `directory`.
    public static func parse(_ text: String, name: String, directory: String, path: String) throws(ConfigError) -> PluginConfig {
        guard isValidName(name) else {
            throw ConfigError(
                "'\(name)' is not a valid plugin name (lower-case letters, digits and _, starting with a letter)",
                at: SourceMark(file: path, line: 1, column: 1))
        }
        var root = try MappingReader(YAMLParser.parse(text, file: path), what: "a plugin settings file")
        var config = PluginConfig(name: name, enabled: false, libraryPath: directory + "/" + name + ".so")
        config.enabled = try root.bool("enabled") ?? false
        if let library = try root.string("library") {
            config.libraryPath = library.hasPrefix("/") ? library : directory + "/" + library
        }
        if let node = root.raw("sha256") {
            var pin = node.jsonValue.stringValue ?? ""
            if pin.hasPrefix("sha256:") { pin.removeFirst(7) }
            pin = pin.lowercased()
            guard pin.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil else {
                throw ConfigError("'sha256' must be 64 hexadecimal digits (optionally prefixed with sha256:)", at: node.mark)
            }
            config.sha256 = pin
        }
        if let node = root.raw("isolation") {
            guard let text = node.jsonValue.stringValue, let isolation = Isolation(rawValue: text) else {
                throw ConfigError("'isolation' must be one of: inprocess, process", at: node.mark)
            }
            config.isolation = isolation
        }
        if let node = root.raw("subscriptions") {
            var reader = try MappingReader(.mapping([("subscriptions", node.mark, node)], node.mark), what: "subscriptions")
            let list = try reader.stringList("subscriptions") ?? []
            guard !list.isEmpty else { throw ConfigError("'subscriptions' must name at least one event type", at: node.mark) }
            config.subscriptions = list
        }
        if let node = root.raw("on_enable") {
            guard let text = node.jsonValue.stringValue, let policy = EnablePolicy(rawValue: text) else {
                throw ConfigError("'on_enable' must be resume (catch up on missed events) or latest (skip them)", at: node.mark)
            }
            config.onEnable = policy
        }
        if var section = try root.section("supervision") {
            config.supervision = try SupervisionSettings.overrides(from: &section)
        }
        config.lanes = try root.integer("lanes", in: 1...64)
        config.maxAttempts = try root.integer("max_attempts", in: 1...100)
        if let node = root.raw("settings") {
            config.settingsMarks = SettingsMarks(node, settingsKey: node.mark)
            let value = node.jsonValue
            switch value {
            case .object: config.settings = value
            case .null: config.settings = .object([:])
            default: throw ConfigError("'settings' must be a mapping", at: node.mark)
            }
        }
        try root.rejectUnknownKeys(allowed: keys)
        return config
    }

    /// The settings file as YAML text (how pluginctl writes it): `header` (comment lines kept
    /// from the previous file) first, then the keys in a fixed order.
    public func yamlText(directory: String, header: String = "") -> String {
        var lines: [String] = []
        if !header.isEmpty { lines.append(header.hasSuffix("\n") ? String(header.dropLast()) : header) }
        lines.append("enabled: \(enabled)")
        let defaultLibrary = directory + "/" + name + ".so"
        if libraryPath != defaultLibrary {
            let relative = libraryPath.hasPrefix(directory + "/") ? String(libraryPath.dropFirst(directory.count + 1)) : libraryPath
            lines.append("library: \(YAMLWriter.scalar(.string(relative)))")
        }
        if let sha256 { lines.append("sha256: \(YAMLWriter.scalar(.string(sha256)))") }
        if isolation != .process { lines.append("isolation: \(isolation.rawValue)") }
        if let subscriptions { lines.append("subscriptions: \(YAMLWriter.flow(.array(subscriptions.map { .string($0) })))") }
        if let lanes { lines.append("lanes: \(lanes)") }
        if let maxAttempts { lines.append("max_attempts: \(maxAttempts)") }
        if onEnable != .resume { lines.append("on_enable: \(onEnable.rawValue)") }
        if !supervision.isEmpty {
            lines.append("supervision:")
            for key in supervision.keys.sorted() { lines.append("  \(key): \(supervision[key]!)") }
        }
        if let members = settings.objectValue, !members.isEmpty {
            lines.append("settings:")
            YAMLWriter.block(settings, indent: 2, into: &lines)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Writes JSON values as YAML that parses back to the same values under our typing rules.
enum YAMLWriter {
    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let text):
            // Plain only when it would read back as the same string.
            let plainSafe = text.range(of: #"^[A-Za-z_][A-Za-z0-9_./-]*$"#, options: .regularExpression) != nil
            if plainSafe, YAMLNode.plainScalarValue(text) == .string(text) { return text }
            return JSONValue.string(text).jsonText
        default: return value.jsonText
        }
    }

    static func flow(_ value: JSONValue) -> String {
        switch value {
        case .array(let items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { "\(scalar(.string($0))): \(flow(members[$0]!))" }.joined(separator: ", ") + "}"
        default: return scalar(value)
        }
    }

    static func block(_ value: JSONValue, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        guard let members = value.objectValue else { return }
        for key in members.keys.sorted() {
            let member = members[key]!
            if let nested = member.objectValue, !nested.isEmpty {
                lines.append("\(pad)\(scalar(.string(key))):")
                block(member, indent: indent + 2, into: &lines)
            } else {
                lines.append("\(pad)\(scalar(.string(key))): \(flow(member))")
            }
        }
    }
}

/// The file positions of a settings section by JSON-pointer path ("/rules/threshold", the
/// paths schema violations carry). Not part of the configuration: two configurations that
/// differ only in where their lines are compare equal, so moving a line reconfigures nothing.
public struct SettingsMarks: Sendable, Equatable {
    var byPath: [String: SourceMark] = [:]

    public init() {}

    init(_ node: YAMLNode, settingsKey: SourceMark) {
        byPath[""] = settingsKey
        func walk(_ node: YAMLNode, _ path: String) {
            switch node {
            case .mapping(let entries, _):
                for entry in entries {
                    byPath[path + "/" + entry.key] = entry.keyMark
                    walk(entry.value, path + "/" + entry.key)
                }
            case .sequence(let elements, _):
                for (index, element) in elements.enumerated() {
                    byPath[path + "/\(index)"] = element.mark
                    walk(element, path + "/\(index)")
                }
            case .scalar: break
            }
        }
        walk(node, "")
    }

    /// The position of `path`, or of its nearest ancestor that was written in the file.
    public func mark(for path: String) -> SourceMark? {
        var path = path
        while true {
            if let mark = byPath[path] { return mark }
            guard let slash = path.lastIndex(of: "/") else { return nil }
            path = String(path[..<slash])
        }
    }

    public static func == (lhs: SettingsMarks, rhs: SettingsMarks) -> Bool { true }
}
