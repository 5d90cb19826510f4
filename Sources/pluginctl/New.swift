import ArgumentParser
import Foundation
import PluginHost

/// `pluginctl new NAME --lang c`: a working plugin to start from, outside any source tree,
/// built with the installed kit (scripts/install-sdk: pkg-config pos-plugin).
struct New: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new plugin from the kit's template: NAME/NAME.c and a Makefile that builds it with pkg-config.")
    @OptionGroup var common: Common
    @Argument(help: "The plugin's name: lower case letters, digits and _, starting with a letter (it names the .so and the settings file).")
    var name: String
    @Option(help: "The plugin's language: c.") var lang: String = "c"
    @Option(help: "Where to create the NAME directory (default: the current directory).") var directory: String?
    @Option(help: "The installed kit (default: $POS_PLUGIN_KIT, /usr/local/share/pos-plugin, /usr/share/pos-plugin).")
    var kit: String?

    func run() throws {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.utf8.count <= 64,
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else {
            fail("'\(name)' is not a plugin name: use lower case letters, digits and _, starting with a letter, at most 64", Exit.dataError)
        }
        guard lang == "c" else {
            fail("no template for --lang \(lang): the kit has c (a Swift plugin starts from PluginsSrc/basket_tally in the host's repository)", Exit.dataError)
        }
        let candidates = [kit, ProcessInfo.processInfo.environment["POS_PLUGIN_KIT"], "/usr/local/share/pos-plugin", "/usr/share/pos-plugin"].compactMap { $0 }
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/templates/\(lang)/plugin.c.in") }) else {
            fail("no plugin kit found (looked in \(candidates.joined(separator: ", "))); install it with scripts/install-sdk, or give --kit", Exit.notFound)
        }
        let base = directory ?? FileManager.default.currentDirectoryPath
        let target = "\(base)/\(name)"
        guard !FileManager.default.fileExists(atPath: target) else { fail("\(target) exists already; nothing was written", Exit.dataError) }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for (template, output) in [("plugin.c.in", "\(name).c"), ("Makefile.in", "Makefile")] {
            let text = try String(contentsOfFile: "\(root)/templates/\(lang)/\(template)", encoding: .utf8)
            try text.replacingOccurrences(of: "@NAME@", with: name).write(toFile: "\(target)/\(output)", atomically: true, encoding: .utf8)
        }
        if common.json {
            common.print(json: ["directory": target, "files": ["\(name).c", "Makefile"].joined(separator: ",")])
        } else {
            print("wrote \(target)/\(name).c and \(target)/Makefile from \(root)\nnext: cd \(target) && make && make install PLUGINS_DIR=<the host's plugins.d> && pluginctl enable \(name)")
        }
    }
}
