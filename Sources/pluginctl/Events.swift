import ArgumentParser
import Foundation
import PluginHost

/// `pluginctl events`: the event types the running host accepts with `unknown_types: reject`,
/// the catalog's and those its plugins define (ABI 1.1), with who defines each.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the event types the running host accepts: the catalog's and those its plugins define.")
    @OptionGroup var common: Common
    @Flag(help: "Show each type's payload fields (catalog) or schema (plugin).") var payload = false

    func run() throws {
        let config = try common.hostConfig()
        guard let response = try common.send(ControlRequest(command: .events), to: config), let types = response.eventTypes else {
            fail("pos-host is not running (no control socket answers at \(config.controlSocket))", Exit.unavailable)
        }
        if common.json {
            common.print(json: types)
            return
        }
        var header = ["TYPE", "DEFINED BY", "DESCRIPTION"]
        if payload { header.append("PAYLOAD") }
        print(table(header, types.map { type in
            var row = [type.name, type.definedBy, type.description]
            if payload { row.append(type.payload) }
            return row
        }))
    }
}
