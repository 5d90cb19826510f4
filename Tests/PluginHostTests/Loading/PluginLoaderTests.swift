import Foundation
import Testing

@testable import PluginHost

/// Every way a plugin file can fail to load, with real shared objects built for the purpose.
@Suite struct PluginLoaderTests {
    let directory = TestSupport.temporaryDirectory("loader")

    func loadError(_ path: String, sha256: String? = nil) throws -> PluginLoadError {
        try #require(throws: PluginLoadError.self) { try PluginLoader.load(path: path, sha256: sha256) }
    }

    @Test func loadsTheCAndTheSwiftExampleTogether() throws {
        let c = try PluginLoader.load(path: try TestSupport.buildEventCounter(into: directory))
        let swift = try PluginLoader.load(path: try TestSupport.installBasketTally(into: directory))
        #expect(c.manifest.name == "event_counter" && c.manifest.subscriptions == ["*"] && c.manifest.supportsReconfigure)
        #expect(swift.manifest.name == "basket_tally" && swift.manifest.version == "1.0.0")
        #expect(swift.manifest.subscriptions == ["ITEM_ADDED", "ITEM_REMOVED", "PAYMENT_PROCESSED"])
        #expect(swift.manifest.defaultSettings == .object(["large_basket_threshold": .number(100), "currency": .string("USD")]))
        #expect(swift.description.schema != nil)
    }

    @Test func refusesWhatIsNotASharedObjectForThisMachine() throws {
        TestSupport.write("#!/bin/sh\necho hi\n", to: directory + "/script.so")
        let notELF = try loadError(directory + "/script.so")
        #expect(notELF.kind == .notELF && notELF.description == "\(directory)/script.so: not an ELF shared object (first bytes: 23 21 2f 62)")

        // A real plugin with its header patched to say aarch64.
        let path = try TestSupport.buildFixture(into: directory, fileName: "arm.so")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 18)
        handle.write(Data([183, 0]))
        try handle.close()
        let arch = try loadError(path)
        #expect(arch.kind == .wrongArchitecture && arch.reason == "built for aarch64, this host is x86_64")

        TestSupport.write("int x;\n", to: directory + "/object.c")
        try TestSupport.run("/usr/bin/cc", ["-c", "-fPIC", "-o", directory + "/object.so", directory + "/object.c"])
        let object = try loadError(directory + "/object.so")
        #expect(object.kind == .notELF && object.reason == "is a relocatable object (.o), not a shared object (build it with -shared -fPIC)")

        let missing = try loadError(directory + "/nope.so")
        #expect(missing.kind == .notFound && missing.reason.contains("no such file"))
    }

    @Test func refusesFilesOthersCouldHaveReplaced() throws {
        let path = try TestSupport.buildFixture(into: directory)
        chmod(path, 0o666)
        let file = try loadError(path)
        #expect(file.kind == .unsafePermissions && file.reason == "the file is writable by group or others (mode 666); fix with: chmod go-w \(path), or install plugins elsewhere")
        chmod(path, 0o644)
        chmod(directory, 0o777)
        defer { chmod(directory, 0o700) }
        let folder = try loadError(path)
        #expect(folder.kind == .unsafePermissions && folder.reason.hasPrefix("its directory \(directory) is writable by group or others (mode 777)"))
    }

    @Test func trustIsCheckedOnTheRealPathAndEveryDirectoryAboveIt() throws {
        let path = try TestSupport.buildFixture(into: directory)
        // A symlink in a safe directory to a library in a world-writable one outside it.
        let outside = TestSupport.temporaryDirectory("outside")
        let planted = try TestSupport.buildFixture(into: outside, fileName: "planted.so")
        chmod(outside, 0o777)
        defer { chmod(outside, 0o700) }
        let link = directory + "/linked.so"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: planted)
        let viaLink = try loadError(link)
        #expect(viaLink.kind == .unsafePermissions && viaLink.reason.hasPrefix("its directory \(outside) is writable by group or others (mode 777)"), "\(viaLink.reason)")
        // A sticky, world-writable plugins directory (like /tmp) is refused.
        chmod(directory, 0o1777)
        let sticky = try loadError(path)
        #expect(sticky.kind == .unsafePermissions && sticky.reason.contains("mode 1777") && sticky.reason.contains("sticky"))
        chmod(directory, 0o700)
        // A writable directory two levels up is refused as well.
        let parent = TestSupport.temporaryDirectory("parent")
        let nested = parent + "/plugins.d"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: false)
        chmod(nested, 0o755)
        let deep = try TestSupport.buildFixture(into: nested)
        chmod(parent, 0o775)
        defer { chmod(parent, 0o700) }
        let above = try loadError(deep)
        #expect(above.reason.hasPrefix("the directory \(parent) above it is writable by group or others (mode 775)"), "\(above.reason)")
        chmod(parent, 0o700)
        #expect(try PluginLoader.load(path: deep).manifest.name == "fixture")
        #expect(try PluginLoader.load(path: path).manifest.name == "fixture")
    }

    @Test func checksTheSHA256Pin() throws {
        let path = try TestSupport.buildFixture(into: directory)
        let actual = try FileTrust.sha256(ofFileAt: path)
        #expect(try PluginLoader.load(path: path, sha256: actual).manifest.name == "fixture")
        let wrong = String(repeating: "0", count: 64)
        let error = try loadError(path, sha256: wrong)
        #expect(error.kind == .checksumMismatch && error.reason == "sha256 is \(actual) but the settings pin \(wrong); refusing to load")
    }

    @Test func explainsAMissingDependency() throws {
        let helper = directory + "/libhelper.so"
        TestSupport.write("int helper(void) { return 1; }\n", to: directory + "/helper.c")
        try TestSupport.run("/usr/bin/cc", ["-shared", "-fPIC", "-o", helper, directory + "/helper.c"])
        TestSupport.write("int helper(void);\nint pos_plugin_entry(void) { return helper(); }\n", to: directory + "/needs.c")
        try TestSupport.run("/usr/bin/cc", ["-shared", "-fPIC", "-o", directory + "/needs.so", directory + "/needs.c", "-L", directory, "-lhelper"])
        try FileManager.default.removeItem(atPath: helper)
        let error = try loadError(directory + "/needs.so")
        #expect(error.kind == .dlopenFailed && error.reason.contains("libhelper.so"))
    }

    @Test func refusesASharedObjectThatIsNotAPlugin() throws {
        let error = try loadError(try TestSupport.buildFixture(["FIXTURE_NO_ENTRY"], into: directory))
        #expect(error.kind == .missingEntry && error.reason == "does not export pos_plugin_entry: not a POS plugin")
        let refused = try loadError(try TestSupport.buildFixture(["FIXTURE_ENTRY_NULL"], into: directory, fileName: "null.so"))
        #expect(refused.kind == .noDescriptor && refused.reason.contains("refuses this host's ABI 1.1"))
    }

    @Test func negotiatesTheABIVersionBothWays() throws {
        let newerMajor = try loadError(try TestSupport.buildFixture(["FIXTURE_ABI_MAJOR=2", "FIXTURE_ABI_MINOR=0"], into: directory, fileName: "v2.so"))
        #expect(newerMajor.kind == .abiMajorMismatch && newerMajor.reason.hasPrefix("built for plugin ABI 2.0 but this host speaks 1.1"))
        let olderMajor = try loadError(try TestSupport.buildFixture(["FIXTURE_ABI_MAJOR=0", "FIXTURE_ABI_MINOR=9"], into: directory, fileName: "v0.so"))
        #expect(olderMajor.kind == .abiMajorMismatch && olderMajor.reason.hasPrefix("built for plugin ABI 0.9"))
        let newerMinor = try loadError(try TestSupport.buildFixture(["FIXTURE_ABI_MINOR=3"], into: directory, fileName: "v13.so"))
        #expect(newerMinor.kind == .abiMinorTooNew && newerMinor.reason == "needs plugin ABI 1.3 but this host provides 1.1; upgrade the host")
        // Same major, same or older minor: accepted.
        #expect(try PluginLoader.load(path: try TestSupport.buildFixture(["FIXTURE_ABI_MINOR=0"], into: directory, fileName: "v10.so")).manifest.abiMinor == 0)
    }

    @Test func validatesTheDescriptor() throws {
        let cases: [(String, String)] = [
            ("FIXTURE_NAME=\"Bad Name\"", "invalid descriptor: name 'Bad Name' must be 1-64 characters"),
            ("FIXTURE_NULL_VTABLE", "invalid descriptor: vtable is NULL"),
            ("FIXTURE_NO_HANDLE", "invalid descriptor: vtable.handle_event is NULL"),
            ("FIXTURE_BAD_SCHEMA", "invalid descriptor: settings_schema: invalid JSON"),
            ("FIXTURE_UNSUPPORTED_SCHEMA", "invalid descriptor: settings_schema: invalid settings schema: root: keyword 'oneOf' is not supported"),
            ("FIXTURE_BAD_DEFAULTS", "invalid descriptor: default_settings do not satisfy the settings schema: /threshold: must be <= 10"),
        ]
        for (index, (define, expected)) in cases.enumerated() {
            let error = try loadError(try TestSupport.buildFixture([define], into: directory, fileName: "bad\(index).so"))
            #expect(error.kind == .invalidDescriptor)
            #expect(error.reason.hasPrefix(expected), "\(define): \(error.reason)")
        }
    }

    @Test func appliesTheSchemaToSettings() throws {
        let library = try PluginLoader.load(path: try TestSupport.buildFixture(into: directory))
        #expect(try library.effectiveSettings(.object(["sleep_us": .number(1)])) == .object(["threshold": .number(5), "sleep_us": .number(1)]))
        let error = try #require(throws: PluginLoadError.self) { try library.effectiveSettings(.object(["threshold": .number(11), "colour": .string("red")])) }
        #expect(error.kind == .settingsRejected)
        #expect(error.reason == "settings rejected by the plugin's schema: /colour: unknown setting (not in the schema); /threshold: must be <= 10")
    }
}
