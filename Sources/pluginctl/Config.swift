import ArgumentParser
import Foundation
import PluginHost

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read or change a plugin's settings.", subcommands: [Get.self, Set.self, Unset.self])

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a plugin's settings (from the database when one is configured, else its file), or one key.")
        @OptionGroup var common: Common
        @Argument(help: "Plugin name.") var name: String
        @Argument(help: "A key of the settings, dotted for nested ones (section.name).") var key: String?

        func run() throws {
            let config = try common.hostConfig()
            let file = try readSettingsFile(name, config)
            // With a database, its row is what the hosts run.
            let settings = try DatabaseAdmin.store(config).flatMap { try $0.rows()[name]?.settings } ?? file.config.settings
            guard let key else {
                print(common.json ? settings.jsonText : YAMLLines.render(settings))
                return
            }
            guard let value = PluginSettingsFile.setting(settings, keyPath: key) else {
                fail("\(name) has no setting '\(key)' in its file (defaults come from the plugin: pluginctl inspect)", Exit.notFound)
            }
            print(value.stringValue.map { common.json ? value.jsonText : $0 } ?? value.jsonText)
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change one setting, after checking it against the plugin's schema, and wait for the host to apply it.",
            discussion: "VALUE is read as YAML: 10 is a number, true a boolean, \"10\" a string, [a, b] a list.")
        @OptionGroup var common: Common
        @Argument(help: "Plugin name.") var name: String
        @Argument(help: "A key of the settings, dotted for nested ones (section.name).") var key: String
        // Everything after KEY, so that a value such as -1 is not taken for an option.
        @Argument(parsing: .allUnrecognized, help: "The new value (YAML).") var values: [String]

        func validate() throws {
            guard !values.isEmpty else { throw ValidationError("missing the VALUE to set") }
        }

        func run() throws {
            let value = values.joined(separator: " ")
            let parsed: JSONValue
            switch Result(catching: { () throws(ConfigError) in try YAMLParser.parse(value, file: "VALUE") }) {
            case .success(let node): parsed = node.jsonValue
            case .failure(let error): fail("VALUE: \(error.message)", Exit.dataError)
            }
            try change(name: name, key: key, to: parsed, common: common)
        }
    }

    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove one setting so the plugin's default applies again.")
        @OptionGroup var common: Common
        @Argument(help: "Plugin name.") var name: String
        @Argument(help: "A key of the settings, dotted for nested ones.") var key: String

        func run() throws { try change(name: name, key: key, to: nil, common: common) }
    }
}

func readSettingsFile(_ name: String, _ config: HostConfig) throws -> (config: PluginConfig, header: String) {
    let result = Result { () throws(ConfigError) in try PluginSettingsFile.read(name: name, directory: config.pluginsDirectory) }
    switch result {
    case .failure(let error):
        fail("\(error)", Exit.dataError)
    case .success(nil):
        fail("no settings file \(PluginSettingsFile.path(name: name, directory: config.pluginsDirectory)); create it with pluginctl enable \(name)", Exit.notFound)
    case .success(let file?):
        return file
    }
}

/// Sets (or removes) one setting, refusing values the plugin's schema rejects, then confirms.
func change(name: String, key: String, to value: JSONValue?, common: Common) throws {
    let config = try common.hostConfig()
    var file = try readSettingsFile(name, config)
    let database = DatabaseAdmin.store(config)
    // With a database, its row is the current configuration.
    let row = try database.flatMap { try $0.rows()[name] }
    let current = row?.settings ?? file.config.settings
    if value == nil, PluginSettingsFile.setting(current, keyPath: key) == nil {
        fail("\(name) has no setting '\(key)' to remove (defaults come from the plugin: pluginctl inspect)", Exit.notFound)
    }
    let updated: JSONValue
    do { updated = try PluginSettingsFile.setting(current, keyPath: key, to: value) } catch { fail("\(error)", Exit.dataError) }

    // Check against the schema the plugin itself declares, loaded in a throwaway process.
    let expected: JSONValue
    switch PluginInspector.inspect(path: file.config.libraryPath) {
    case .failed(let error):
        fail("cannot check the new value against \(name)'s schema: \(error)", Exit.failed)
    case .manifest(let manifest):
        let merged = manifest.defaultSettings.merging(updated)
        if let schemaValue = manifest.settingsSchema {
            let violations = try JSONSchema(schemaValue).violations(of: merged)
            if !violations.isEmpty {
                fail("\(name) rejects these settings: \(violations.map(\.description).joined(separator: "; ")); nothing was changed", Exit.dataError)
            }
        }
        expected = merged
    }
    if let database {
        let defaults = file.config
        try DatabaseAdmin.write(database, name: name, common: common) { current in
            (current?.enabled ?? defaults.enabled, current?.isolation ?? defaults.isolation, updated)
        }
        return
    }
    file.config.settings = updated
    try PluginSettingsFile.write(file.config, directory: config.pluginsDirectory, header: file.header)
    confirm(name: name, expect: .settings(expected), config: config, common: common, edited: PluginSettingsFile.path(name: name, directory: config.pluginsDirectory))
}

/// Settings printed as YAML for people.
enum YAMLLines {
    static func render(_ value: JSONValue) -> String {
        let config = PluginConfig(name: "x", enabled: true, libraryPath: "", settings: value)
        let text = config.yamlText(directory: "")
        // Drop the "enabled"/"library" lines and the "settings:" header, keep the indented body.
        return text.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { String($0.dropFirst(2)) }.joined(separator: "\n")
    }
}
