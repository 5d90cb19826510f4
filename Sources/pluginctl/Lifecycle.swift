import ArgumentParser
import Foundation
import PluginHost

#if canImport(Glibc)
import Glibc
#endif

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a plugin again in a fresh worker with a clean crash history (the way out of quarantine).")
    @OptionGroup var common: Common
    @Argument(help: "Plugin name.") var name: String

    func run() throws {
        let config = try common.hostConfig()
        guard let response = try common.send(ControlRequest(command: .restart, plugin: name), to: config) else {
            fail("pos-host is not running (no control socket answers at \(config.controlSocket))", Exit.unavailable)
        }
        if common.json, let change = response.change { common.print(json: change) }
        guard response.ok else { fail("\(name) could not be restarted: \(response.error ?? "unknown reason")", Exit.code(for: response)) }
        if !common.json { print("\(name) restarted: running in a fresh worker, consuming from its committed position") }
    }
}

struct Upgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace a plugin's library with a new build without stopping it.",
        discussion: """
            Checks the new file in a throwaway worker (it must be a plugin of the same name and a \
            compatible ABI), installs it over the plugin's library with an atomic rename and has \
            the host switch to it between two events. If the host cannot start the new version \
            (for example its create fails with the current settings), the previous file is put \
            back and the running version is untouched.
            """)
    @OptionGroup var common: Common
    @Argument(help: "Plugin name.") var name: String
    @Argument(help: "Path of the new .so file.") var path: String

    func run() throws {
        let config = try common.hostConfig()
        let file = try readSettingsFile(name, config)
        let target = file.config.libraryPath
        let source = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        switch PluginInspector.inspect(path: source) {
        case .failed(let error):
            fail("\(source) cannot replace \(name): \(error.reason)", error.kind == .notFound ? Exit.notFound : Exit.dataError)
        case .manifest(let manifest):
            guard manifest.name == name else { fail("\(source) is the plugin '\(manifest.name)', not \(name)", Exit.dataError) }
        }
        // Stage next to the target so the final rename is atomic, and keep the old file to
        // restore if the host refuses the new one.
        let staged = target + ".new"
        let previous = target + ".previous"
        do {
            try? FileManager.default.removeItem(atPath: staged)
            try FileManager.default.copyItem(atPath: source, toPath: staged)
            chmod(staged, 0o644)
            try? FileManager.default.removeItem(atPath: previous)
            if FileManager.default.fileExists(atPath: target) { try FileManager.default.linkItem(atPath: target, toPath: previous) }
        } catch {
            fail("cannot stage \(source) next to \(target): \(error.localizedDescription)", Exit.failed)
        }
        guard rename(staged, target) == 0 else { fail("cannot install \(target): \(String(cString: strerror(errno)))", Exit.failed) }

        guard let response = try common.send(ControlRequest(command: .reload), to: config), let report = response.reload else {
            try? FileManager.default.removeItem(atPath: previous)
            print("installed \(target); pos-host is not running, so the new version starts with it")
            return
        }
        let change = report.changes.first { $0.plugin == name }
        if change?.action == .failed {
            if rename(previous, target) == 0 { _ = try? common.send(ControlRequest(command: .reload), to: config) }
            fail("the host refused the new version and kept the running one: \(change?.detail ?? "unknown reason"); \(target) was restored", Exit.failed)
        }
        try? FileManager.default.removeItem(atPath: previous)
        let version = report.plugins.first { $0.name == name }?.version ?? "?"
        if common.json {
            common.print(json: change ?? PluginChange(plugin: name, action: .unchanged))
        } else if change?.action == .unchanged {
            print("\(name) already runs this build (version \(version))")
        } else {
            print("\(name) upgraded: version \(version) now handles its events (\(change?.action.rawValue ?? "applied"))")
        }
    }
}
