import ArgumentParser
import Foundation
import PluginHost

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List installed and configured plugins.")

    @OptionGroup var common: Common

    struct Entry: Encodable {
        var name: String
        var enabled: Bool
        var library: String
        var installed: Bool
        var state: String?
        var version: String?
        var configError: String?

        enum CodingKeys: String, CodingKey {
            case name, enabled, library, installed, state, version
            case configError = "config_error"
        }
    }

    func run() throws {
        let config = try common.hostConfig()
        let snapshot = ConfigSnapshot.read(configPath: nil, baseDirectory: ".", previousHost: config)
        let live = try? common.send(ControlRequest(command: .status), to: config)?.status
        var entries: [Entry] = []
        for name in Set(snapshot.plugins.keys).union(snapshot.pluginErrors.keys).sorted() {
            let plugin = snapshot.plugins[name]
            let running = live?.plugins.first { $0.name == name }
            let library = plugin?.libraryPath ?? config.pluginsDirectory + "/" + name + ".so"
            entries.append(
                Entry(
                    name: name, enabled: plugin?.enabled ?? false, library: library,
                    installed: FileManager.default.fileExists(atPath: library), state: running?.state.rawValue, version: running?.version,
                    configError: snapshot.pluginErrors[name]?.description))
        }
        for file in snapshot.unconfiguredLibraries {
            entries.append(Entry(name: String(file.dropLast(3)), enabled: false, library: config.pluginsDirectory + "/" + file, installed: true))
        }
        if common.json {
            common.print(json: entries)
            return
        }
        let rows = entries.map { entry in
            [
                entry.name, entry.enabled ? "yes" : "no", entry.installed ? "yes" : "MISSING",
                entry.state ?? (live == nil ? "(host not running)" : "-"), entry.version ?? "-",
                entry.configError.map { "invalid settings file: \($0)" } ?? "",
            ]
        }
        print(table(["PLUGIN", "ENABLED", "INSTALLED", "STATE", "VERSION", "NOTE"], rows))
    }
}
