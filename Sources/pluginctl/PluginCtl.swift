import ArgumentParser
import Foundation
import PluginHost

/// Exit codes (sysexits-style), documented in docs/pluginctl.md.
enum Exit {
    static let failed = ExitCode(70)  // the host could not apply the change (plugin failed to start, etc.)
    static let dataError = ExitCode(65)  // invalid value, settings rejected by the schema, invalid file
    static let notFound = ExitCode(66)  // no such plugin or file
    static let unavailable = ExitCode(69)  // the command needs a running host and there is none
    static let timeout = ExitCode(75)  // the host did not answer in time

    /// The exit code for a failed control request, by the host's reason code.
    static func code(for response: ControlResponse) -> ExitCode {
        switch response.code {
        case "no_such_plugin", "unknown_query": notFound
        case "bad_request": dataError
        case "not_running", "not_owner": unavailable
        case "pending": timeout
        default: failed  // "failed": the plugin's own error
        }
    }
}

@main
struct PluginCtl: ParsableCommand {
    /// Global options are accepted before the subcommand too (`pluginctl --json status`).
    static func main() {
        main(GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
    }

    static let configuration = CommandConfiguration(
        commandName: "pluginctl",
        abstract: "Administers the plugins of a pos-host.",
        discussion: """
            Edits plugins.d/<name>.yaml atomically, then asks the running pos-host to apply the change
            and reports whether it took effect. Without a running host the edit applies at its next start.

            Exit codes: 0 done; 64 usage; 65 invalid value or settings rejected; 66 no such plugin or file;
            69 no running host (for commands that need one); 70 the host could not apply it; 75 the host
            did not answer in time.
            """,
        version: HostRuntime.version,
        subcommands: [List.self, Status.self, Enable.self, Disable.self, Restart.self, Upgrade.self, Config.self, Inspect.self, Reload.self, Query.self, Events.self, New.self])
}

/// Moves the shared options (`--config X`, `--timeout X`, `--json`) that stand before the
/// subcommand to just after it, where ArgumentParser reads them.
enum GlobalOptions {
    static let withValue: Set<String> = ["--config", "--timeout"]
    static let flags: Set<String> = ["--json"]
    static let nested: Set<String> = ["config"]  // subcommands that have subcommands

    static func movedAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
            if flags.contains(argument) {
                leading.append(argument)
                index += 1
            } else if withValue.contains(name), argument.contains("=") {
                leading.append(argument)
                index += 1
            } else if withValue.contains(argument), index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        var rest = Array(arguments[index...])
        let commandLength = nested.contains(rest[0]) && rest.count > 1 && !rest[1].hasPrefix("-") ? 2 : 1
        rest.insert(contentsOf: leading, at: commandLength)
        return rest
    }
}

/// Options every subcommand shares.
struct Common: ParsableArguments {
    @Option(name: .long, help: "The host's config.yaml (default: ./config.yaml, or $POS_HOST_CONFIG).")
    var config: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of tables.")
    var json = false

    @Option(name: .long, help: "Seconds to wait for the host to confirm.")
    var timeout: Double = 5

    /// The host config, read the same way the host reads it.
    func hostConfig() throws -> HostConfig {
        let base = FileManager.default.currentDirectoryPath
        let path = config ?? ProcessInfo.processInfo.environment["POS_HOST_CONFIG"] ?? (FileManager.default.fileExists(atPath: "config.yaml") ? base + "/config.yaml" : nil)
        guard let path else { return HostConfig.defaults(baseDirectory: base) }
        switch Result(catching: { () throws(ConfigError) in try HostConfig.load(path: path) }) {
        case .success(let config): return config
        case .failure(let error):
            // The host keeps its last good configuration; reach it anyway, with a warning.
            FileHandle.standardError.write(Data("pluginctl: warning: \(error) (the running host keeps its last good configuration; using the paths that could be read)\n".utf8))
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("\(error)", Exit.dataError) }
            return HostConfig.lenient(text, path: path)
        }
    }

    var timeoutMilliseconds: Int32 { Int32(max(0.1, timeout) * 1000) }

    /// Sends a request to the running host; nil when no host is running.
    func send(_ request: ControlRequest, to config: HostConfig) throws -> ControlResponse? {
        guard FileManager.default.fileExists(atPath: config.controlSocket) else { return nil }
        do {
            return try ControlClient.send(request, socketPath: config.controlSocket, timeoutMilliseconds: timeoutMilliseconds)
        } catch let error as HostError where error.description.contains("cannot connect") {
            return nil
        } catch let error as HostError where error.description.contains("timed out") {
            fail("pos-host did not answer within \(timeout) s on \(config.controlSocket); is it stuck? (see its log)", Exit.timeout)
        }
    }

    func print<T: Encodable>(json value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        Swift.print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
    }
}

/// Prints `message` to standard error as "pluginctl: message" (and, with --json, as
/// `{"error": ..., "exit_code": N}` on standard output, so scripts always get JSON) and exits
/// with `code`.
func fail(_ message: String, _ code: ExitCode) -> Never {
    FileHandle.standardError.write(Data("pluginctl: \(message)\n".utf8))
    if CommandLine.arguments.dropFirst().contains("--json") {
        FileHandle.standardOutput.write(Data((JSONValue.object(["error": .string(message), "exit_code": .number(Double(code.rawValue))]).jsonText + "\n").utf8))
    }
    Foundation.exit(code.rawValue)
}

/// Renders rows as a table with aligned columns.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}
