import Foundation

/// Reads and atomically rewrites `plugins.d/<name>.yaml` (what pluginctl edits).
///
/// Rewriting keeps the file's leading comment block; comments further down are not preserved,
/// because the file is re-emitted from its parsed form (docs/configuration.md says so).
public enum PluginSettingsFile {
    public static func path(name: String, directory: String) -> String { directory + "/" + name + ".yaml" }

    /// The parsed file and its leading comment lines, or nil when there is no such file.
    public static func read(name: String, directory: String) throws(ConfigError) -> (config: PluginConfig, header: String)? {
        let path = path(name: name, directory: directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read: \(error.localizedDescription)", at: SourceMark(file: path, line: 1, column: 1))
        }
        let header = text.split(separator: "\n", omittingEmptySubsequences: false).prefix { $0.hasPrefix("#") }.joined(separator: "\n")
        return (try PluginConfig.parse(text, name: name, directory: directory, path: path), header)
    }

    /// Writes the file through a temporary file and rename(2), so the host's watcher never
    /// reads half a file.
    public static func write(_ config: PluginConfig, directory: String, header: String) throws {
        let path = path(name: config.name, directory: directory)
        let temporary = directory + "/.\(config.name).yaml.tmp-\(getpid())"
        let text = config.yamlText(directory: directory, header: header)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
            throw HostError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw HostError("cannot replace \(path): \(reason)")
        }
    }

    /// `settings` with the value at the dotted `keyPath` set (nil removes it), creating
    /// intermediate objects as needed.
    public static func setting(_ settings: JSONValue, keyPath: String, to value: JSONValue?) throws -> JSONValue {
        let parts = keyPath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, !parts.contains(where: \.isEmpty) else { throw HostError("'\(keyPath)' is not a valid key (use name or section.name)") }
        func update(_ node: JSONValue, _ path: ArraySlice<String>) throws -> JSONValue {
            var object: [String: JSONValue]
            switch node {
            case .object(let members): object = members
            case .null: object = [:]
            default: throw HostError("'\(keyPath)': '\(parts[parts.count - path.count - 1])' is not a section (it holds \(node.typeName))")
            }
            let head = path.first!
            if path.count == 1 {
                object[head] = value
            } else {
                object[head] = try update(object[head] ?? .null, path.dropFirst())
            }
            return .object(object)
        }
        return try update(settings, parts[...])
    }

    /// The value at the dotted `keyPath`, or nil.
    public static func setting(_ settings: JSONValue, keyPath: String) -> JSONValue? {
        var node: JSONValue? = settings
        for part in keyPath.split(separator: ".") { node = node?[String(part)] }
        return node
    }
}
