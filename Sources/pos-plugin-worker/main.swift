// pos-plugin-worker: loads a plugin in a throwaway process so that a hostile or broken `.so`
// cannot harm the caller. `--inspect PATH` prints the plugin's manifest as JSON on stdout and
// exits 0, or prints {"error": {...}} and exits 2. (Serving a plugin over a socket for
// `isolation: process` is the next step of this executable.)
import Foundation
import PluginHost

func emit(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct InspectFailure: Encodable {
    var error: PluginLoadErrorPayload
}

struct PluginLoadErrorPayload: Encodable {
    var kind: String
    var path: String
    var reason: String
}

let arguments = CommandLine.arguments
guard arguments.count == 3, arguments[1] == "--inspect" else {
    FileHandle.standardError.write(Data("usage: pos-plugin-worker --inspect PATH\n".utf8))
    exit(64)
}
do {
    let library = try PluginLoader.load(path: arguments[2])
    emit(library.manifest)
    exit(0)
} catch {
    emit(InspectFailure(error: PluginLoadErrorPayload(kind: error.kind.rawValue, path: error.path, reason: error.reason)))
    exit(2)
}
