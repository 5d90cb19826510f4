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

/// Loads a plugin file in a throwaway `pos-plugin-worker --inspect` process, so a broken or
/// hostile `.so` (crashing constructor, infinite loop) cannot harm the caller.
public enum PluginInspector {
    public enum Outcome: Sendable {
        case manifest(PluginManifest)
        case failed(PluginLoadError)
    }

    /// The worker executable: $POS_PLUGIN_WORKER, else `pos-plugin-worker` next to this executable.
    public static func workerPath() -> String {
        if let path = ProcessInfo.processInfo.environment["POS_PLUGIN_WORKER"] { return path }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent + "/pos-plugin-worker"
    }

    public static func inspect(path: String, timeoutSeconds: Double = 10) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: workerPath())
        process.arguments = ["--inspect", path]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"  // a crash is reported at once, not after a backtrace
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw HostError("cannot start \(workerPath()): \(error.localizedDescription)") }
        let finished = DispatchSemaphore(value: 0)
        let collected = OutputBox()
        Thread.detachNewThread {
            collected.data = output.fileHandleForReading.readDataToEndOfFile()
            finished.signal()
        }
        if finished.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return .failed(PluginLoadError(.crashed, path: path, "loading did not finish within \(Int(timeoutSeconds)) s (the plugin hangs while loading); killed"))
        }
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let name = signal == SIGSEGV ? "SIGSEGV" : signal == SIGABRT ? "SIGABRT" : signal == SIGBUS ? "SIGBUS" : signal == SIGILL ? "SIGILL" : "signal \(signal)"
            return .failed(PluginLoadError(.crashed, path: path, "the plugin crashed while loading (\(name))"))
        }
        let data = collected.data ?? Data()
        if let manifest = try? JSONDecoder().decode(PluginManifest.self, from: data) { return .manifest(manifest) }
        struct Failure: Decodable {
            struct Payload: Decodable { var kind: String; var path: String; var reason: String }
            var error: Payload
        }
        if let failure = try? JSONDecoder().decode(Failure.self, from: data) {
            return .failed(PluginLoadError(PluginLoadError.Kind(rawValue: failure.error.kind) ?? .invalidDescriptor, path: failure.error.path, failure.error.reason))
        }
        return .failed(PluginLoadError(.crashed, path: path, "the loader exited with status \(process.terminationStatus) and no answer"))
    }

    final class OutputBox: @unchecked Sendable {
        // Written by the reader thread before it signals, read after the wait: ordered by the semaphore.
        var data: Data?
    }
}
