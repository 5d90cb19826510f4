import ArgumentParser
import Foundation
import PluginHost

/// `pluginctl new NAME --lang c|swift`: a working plugin to start from, outside any source
/// tree, built with the installed kit (scripts/install-sdk): C with pkg-config pos-plugin, Swift
/// as a package that depends on the kit's pos-plugin-sdk by path.
struct New: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new plugin from the kit's template: NAME/NAME.c and a Makefile (c), or NAME/Package.swift and NAME/Sources/Plugin.swift (swift).")
    @OptionGroup var common: Common
    @Argument(help: "The plugin's name: lower case letters, digits and _, starting with a letter (it names the .so and the settings file).")
    var name: String
    @Option(help: "The plugin's language: c or swift.") var lang: String = "c"
    @Option(help: "Where to create the NAME directory (default: the current directory).") var directory: String?
    @Option(help: "The installed kit (default: $POS_PLUGIN_KIT, /usr/local/share/pos-plugin, /usr/share/pos-plugin).")
    var kit: String?

    func run() throws {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.utf8.count <= 64,
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else {
            fail("'\(name)' is not a plugin name: use lower case letters, digits and _, starting with a letter, at most 64", Exit.dataError)
        }
        let files: [(template: String, output: String)]
        switch lang {
        case "c": files = [("plugin.c.in", "\(name).c"), ("Makefile.in", "Makefile")]
        case "swift": files = [("Package.swift.in", "Package.swift"), ("Plugin.swift.in", "Sources/Plugin.swift")]
        default: fail("no template for --lang \(lang): the kit has c and swift", Exit.dataError)
        }
        let candidates = [kit, ProcessInfo.processInfo.environment["POS_PLUGIN_KIT"], "/usr/local/share/pos-plugin", "/usr/share/pos-plugin"].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/templates/\(lang)/\(files[0].template)") }) else {
            fail("no plugin kit with a \(lang) template found (looked in \(candidates.joined(separator: ", "))); install it with scripts/install-sdk, or give --kit", Exit.notFound)
        }
        let root = URL(fileURLWithPath: found).standardizedFileURL.path
        let base = directory ?? FileManager.default.currentDirectoryPath
        let target = "\(base)/\(name)"
        guard !FileManager.default.fileExists(atPath: target) else { fail("\(target) exists already; nothing was written", Exit.dataError) }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for (template, output) in files {
            let text = try String(contentsOfFile: "\(root)/templates/\(lang)/\(template)", encoding: .utf8)
            let path = "\(target)/\(output)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.replacingOccurrences(of: "@NAME@", with: name).replacingOccurrences(of: "@TYPE@", with: name.uppercased())
                .replacingOccurrences(of: "@KIT@", with: root).write(toFile: path, atomically: true, encoding: .utf8)
        }
        if common.json {
            common.print(json: ["directory": target, "files": files.map(\.output).joined(separator: ",")])
        } else if lang == "swift" {
            print("wrote \(target)/Package.swift and \(target)/Sources/Plugin.swift from \(root)\nnext: cd \(target) && swift build -c release && install -m 0644 .build/release/lib\(name).so <the host's plugins.d>/\(name).so && pluginctl enable \(name)")
        } else {
            print("wrote \(target)/\(name).c and \(target)/Makefile from \(root)\nnext: cd \(target) && make && make install PLUGINS_DIR=<the host's plugins.d> && pluginctl enable \(name)")
        }
    }
}
