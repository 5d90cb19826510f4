import ArgumentParser
import Foundation
import PluginHost

struct Enable: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enable a plugin and wait until the running host has started it.")
    @OptionGroup var common: Common
    @Argument(help: "Plugin name.") var name: String

    func run() throws { try setEnabled(true, name: name, common: common) }
}

struct Disable: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Disable a plugin and wait until the running host has stopped it (its event in flight finishes).")
    @OptionGroup var common: Common
    @Argument(help: "Plugin name.") var name: String

    func run() throws { try setEnabled(false, name: name, common: common) }
}

func setEnabled(_ enabled: Bool, name: String, common: Common) throws {
    let config = try common.hostConfig()
    let directory = config.pluginsDirectory
    guard PluginConfig.isValidName(name) else { fail("'\(name)' is not a plugin name (lower-case letters, digits, _)", Exit.dataError) }
    var file: (config: PluginConfig, header: String)
    switch Result(catching: { () throws(ConfigError) in try PluginSettingsFile.read(name: name, directory: directory) }) {
    case .failure(let error):
        fail("\(error)\nfix the file by hand first: the host keeps its last good settings meanwhile", Exit.dataError)
    case .success(let existing?):
        file = existing
    case .success(nil):
        guard FileManager.default.fileExists(atPath: directory + "/" + name + ".so") else {
            fail("no plugin '\(name)' in \(directory) (neither \(name).yaml nor \(name).so); install it with scripts/build-plugins", Exit.notFound)
        }
        file = (PluginConfig(name: name, enabled: false, libraryPath: directory + "/" + name + ".so"), "# \(name): settings file created by pluginctl")
    }
    if let store = DatabaseAdmin.store(config) {
        if !FileManager.default.fileExists(atPath: PluginSettingsFile.path(name: name, directory: directory)) {
            try PluginSettingsFile.write(file.config, directory: directory, header: file.header)  // tells hosts where the library is
        }
        let defaults = file.config
        try DatabaseAdmin.write(store, name: name, common: common) { row in
            (enabled, row?.isolation ?? defaults.isolation, row?.settings ?? defaults.settings)
        }
        return
    }
    file.config.enabled = enabled
    try PluginSettingsFile.write(file.config, directory: directory, header: file.header)
    confirm(name: name, expect: enabled ? .running : .disabled, config: config, common: common, edited: PluginSettingsFile.path(name: name, directory: directory))
}

enum Expectation {
    case running
    case disabled
    case settings(JSONValue)
}

/// Asks the host to reload, then checks that `name` reached the expected state. Exits on failure.
func confirm(name: String, expect: Expectation, config: HostConfig, common: Common, edited: String) {
    let response: ControlResponse?
    do { response = try common.send(ControlRequest(command: .reload), to: config) } catch { fail("\(error)", Exit.failed) }
    guard let response, let report = response.reload else {
        let message = "edited \(edited); pos-host is not running (no control socket at \(config.controlSocket)), so the change applies when it starts"
        if common.json { common.print(json: ["edited": edited, "applied": "pending: host not running"]) } else { print(message) }
        return
    }
    guard let plugin = report.plugins.first(where: { $0.name == name }) else {
        fail("the host did not pick up \(name) after reloading; check plugins_dir in its config.yaml", Exit.failed)
    }
    if common.json { common.print(json: plugin) }
    if let error = plugin.configError { fail("the host rejected \(edited): \(error)", Exit.dataError) }
    let change = report.changes.first { $0.plugin == name }
    switch expect {
    case .running:
        guard plugin.state == .running else { fail("\(name) is enabled but did not start: \(plugin.lastError ?? "unknown reason")", Exit.failed) }
        if !common.json { print("\(name) enabled: running version \(plugin.version ?? "?") (config generation \(report.generation))") }
    case .disabled:
        guard plugin.state != .running else { fail("\(name) is still running after the reload", Exit.failed) }
        if !common.json { print("\(name) disabled: stopped, no further events are delivered to it (config generation \(report.generation))") }
    case .settings(let expected):
        if change?.action == .failed { fail("the host kept the previous settings of \(name): \(change?.detail ?? "unknown reason")", Exit.failed) }
        if plugin.state != .running {
            if !common.json { print("\(name) settings saved; the plugin is \(plugin.state.rawValue), they apply when it runs") }
        } else if plugin.settings == expected {
            if !common.json { print("\(name) settings applied (config generation \(report.generation))") }
        } else {
            fail("\(name) is running with other settings than those written: \(plugin.lastError ?? "see pos-host's log")", Exit.failed)
        }
    }
}
