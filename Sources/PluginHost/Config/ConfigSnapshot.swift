import Foundation

/// Everything read from disk in one pass: the host config, each plugin's settings file, and
/// what could not be read, per file. Errors in one file never hide the others.
public struct ConfigSnapshot: Sendable {
    public var host: HostConfig
    /// Host config error, when config.yaml is invalid (`host` then holds the last good config).
    public var hostError: ConfigError?
    /// Plugins whose settings file parsed, by name.
    public var plugins: [String: PluginConfig]
    /// Plugins whose settings file did not parse, by name.
    public var pluginErrors: [String: ConfigError]
    /// `.so` files in the plugins directory that have no settings file (installed, not configured).
    public var unconfiguredLibraries: [String]

    /// Reads `configPath` (nil: defaults relative to `baseDirectory`) and the plugins directory
    /// it names. `previousHost` is kept when config.yaml is invalid.
    public static func read(configPath: String?, baseDirectory: String, previousHost: HostConfig? = nil) -> ConfigSnapshot {
        var host = previousHost ?? HostConfig.defaults(baseDirectory: baseDirectory)
        var hostError: ConfigError?
        if let configPath {
            do { host = try HostConfig.load(path: configPath) } catch { hostError = error }
        }
        let (plugins, errors, unconfigured) = readPlugins(directory: host.pluginsDirectory)
        return ConfigSnapshot(host: host, hostError: hostError, plugins: plugins, pluginErrors: errors, unconfiguredLibraries: unconfigured)
    }

    /// Settings files are `<name>.yaml` (or `.yml`); dotfiles and editor backups are ignored.
    static func readPlugins(directory: String) -> ([String: PluginConfig], [String: ConfigError], [String]) {
        var plugins: [String: PluginConfig] = [:]
        var errors: [String: ConfigError] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let name: String
            if entry.hasSuffix(".yaml") { name = String(entry.dropLast(5)) } else if entry.hasSuffix(".yml") { name = String(entry.dropLast(4)) } else { continue }
            let path = directory + "/" + entry
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                plugins[name] = try PluginConfig.parse(text, name: name, directory: directory, path: path)
            } catch let error as ConfigError {
                errors[name] = error
            } catch {
                errors[name] = ConfigError("cannot read: \(error.localizedDescription)", at: SourceMark(file: path, line: 1, column: 1))
            }
        }
        let configuredLibraries = Set(plugins.values.map(\.libraryPath))
        let unconfigured = entries.filter { $0.hasSuffix(".so") }.sorted().filter { entry in
            let stem = String(entry.dropLast(3))
            return plugins[stem] == nil && errors[stem] == nil && !configuredLibraries.contains(directory + "/" + entry)
        }
        return (plugins, errors, unconfigured)
    }
}
