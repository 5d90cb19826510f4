import ArgumentParser
import Foundation
import PluginABI
import PluginHost

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a plugin file in a throwaway process and describe it, or say precisely why it cannot load.")
    @OptionGroup var common: Common
    @Argument(help: "Path of the plugin's .so file.") var path: String
    @Option(help: "Seconds the plugin may take to load before it is killed.") var loadTimeout: Double = 10

    func run() throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        switch PluginInspector.inspect(path: absolute, timeoutSeconds: loadTimeout) {
        case .failed(let error):
            if common.json {
                common.print(json: ["error": ["kind": error.kind.rawValue, "path": error.path, "reason": error.reason]])
                throw error.kind == .notFound ? Exit.notFound : error.kind == .crashed ? Exit.failed : Exit.dataError
            }
            // 66: no such file; 70: it crashed or hung while loading; 65: it is not a usable plugin.
            fail("cannot load \(error)", error.kind == .notFound ? Exit.notFound : error.kind == .crashed ? Exit.failed : Exit.dataError)
        case .manifest(let manifest):
            if common.json {
                common.print(json: manifest)
                return
            }
            print(
                """
                name:          \(manifest.name)
                version:       \(manifest.version)
                description:   \(manifest.description)
                abi:           \(manifest.abiMajor).\(manifest.abiMinor) (host \(PluginLoader.hostABIMajor).\(PluginLoader.hostABIMinor))
                subscriptions: \(manifest.subscriptions.joined(separator: ", "))
                concurrency:   \(manifest.concurrentKeys ? "events with different keys in parallel" : "one event at a time")
                reconfigure:   \(manifest.supportsReconfigure ? "live" : "by re-creating the instance")
                queries:       \(manifest.supportsQuery ? "yes" : "no")
                defaults:      \(manifest.defaultSettings.jsonText)
                schema:        \(manifest.settingsSchema?.jsonText ?? "(any object)")
                emits:         \(manifest.emits.map { $0.isEmpty ? "nothing" : $0.joined(separator: ", ") } ?? "any type (not declared)")
                header:        \(Self.headerLine(manifest.headerHash))
                """)
            for type in manifest.eventTypes {
                print("defines:       \(type.name): \(type.description)\n               payload \(type.payloadSchema?.jsonText ?? "(any object)")")
            }
            // The descriptor is all inspect reads: running create would execute the plugin's code
            // with settings in this process's name, which is the host's job (in a worker).
            print("note:          only the descriptor was read; create was not called (the host calls it, in a worker, on pluginctl enable)")
        }
    }
}

extension Inspect {
    /// The plugin's POS_PLUGIN_HEADER_HASH beside the host's (as Envoy shows its ABI hash).
    static func headerLine(_ hash: String?) -> String {
        guard let hash else { return "not reported (built before ABI 1.1 headers carried a hash); host \(String(POS_PLUGIN_HEADER_HASH.prefix(12)))" }
        let host = POS_PLUGIN_HEADER_HASH
        return hash == host
            ? "\(hash.prefix(12)) (the host's own pos_plugin.h)"
            : "\(hash.prefix(12)) (another pos_plugin.h than the host's \(host.prefix(12)); compatible by the version check above)"
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make the running host re-read config.yaml and plugins.d now, and show what changed.")
    @OptionGroup var common: Common

    func run() throws {
        let config = try common.hostConfig()
        guard let response = try common.send(ControlRequest(command: .reload), to: config), let report = response.reload else {
            fail("pos-host is not running (no control socket answers at \(config.controlSocket))", Exit.unavailable)
        }
        if common.json {
            common.print(json: report)
        } else {
            print("config generation \(report.generation)")
            let rows = report.changes.map { [$0.plugin, $0.action.rawValue, $0.detail ?? ""] }
            print(table(["PLUGIN", "CHANGE", "DETAIL"], rows))
            for error in report.errors { print("rejected: \(error)") }
        }
        if !report.errors.isEmpty { throw Exit.dataError }
        if report.changes.contains(where: { $0.action == .failed }) { throw Exit.failed }
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask a running plugin a query and print its answer.")
    @OptionGroup var common: Common
    @Argument(help: "Plugin name.") var name: String
    @Argument(help: "Query name (see the plugin's docs).") var query: String
    @Argument(help: "Request as JSON.") var request: String = "{}"

    func run() throws {
        if case .failure(let error) = Result(catching: { try JSONValue.parse(request) }) {
            fail("the request is not JSON: \(error)", Exit.dataError)
        }
        let config = try common.hostConfig()
        guard let response = try common.send(ControlRequest(command: .query, plugin: name, query: query, request: request), to: config) else {
            fail("pos-host is not running (no control socket answers at \(config.controlSocket))", Exit.unavailable)
        }
        guard response.ok, let answer = response.answer else { fail(response.error ?? "the query failed", Exit.code(for: response)) }
        print(answer)
    }
}
