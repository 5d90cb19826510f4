import Foundation
import Testing

@testable import PluginHost

@Suite struct HostConfigTests {
    @Test func parsesEveryKeyAndResolvesPathsAgainstTheFile() throws {
        let config = try HostConfig.parse(
            """
            plugins_dir: plugins.d
            control_socket: /run/pos/host.sock
            log_level: debug
            dispatch: {queue_capacity: 10, lanes: 2, max_attempts: 3, backoff_initial_ms: 5, backoff_max_ms: 50, batch_size: 8}
            events: {max_event_bytes: 4096}
            """, path: "/etc/pos/config.yaml")
        #expect(config.pluginsDirectory == "/etc/pos/plugins.d")
        #expect(config.controlSocket == "/run/pos/host.sock")
        #expect(config.logLevel == "debug")
        #expect(config.dispatch.queueCapacity == 10 && config.dispatch.lanes == 2 && config.dispatch.maxAttempts == 3)
        #expect(config.dispatch.backoffInitialMilliseconds == 5 && config.dispatch.backoffMaxMilliseconds == 50 && config.dispatch.batchSize == 8)
        #expect(config.maxEventBytes == 4096)
    }

    @Test func unknownKeysAreErrorsWithTheirPosition() throws {
        let error = try #require(throws: ConfigError.self) {
            try HostConfig.parse("plugins_dir: p\ndispatch:\n  queue_capacty: 10\n", path: "config.yaml")
        }
        #expect(error.description.hasPrefix("config.yaml:3:3: unknown key 'queue_capacty'"))
        #expect(error.message.contains("queue_capacity"))  // lists what is allowed
    }

    @Test func wrongTypesAndRangesAreExplained() throws {
        let type = try #require(throws: ConfigError.self) { try HostConfig.parse("dispatch: {lanes: many}\n", path: "c.yaml") }
        #expect(type.message == "'lanes' must be a whole number")
        let range = try #require(throws: ConfigError.self) { try HostConfig.parse("dispatch: {lanes: 0}\n", path: "c.yaml") }
        #expect(range.message == "'lanes' must be between 1 and 64")
        let level = try #require(throws: ConfigError.self) { try HostConfig.parse("log_level: loud\n", path: "c.yaml") }
        #expect(level.message.contains("must be one of"))
    }
}

@Suite struct PluginConfigTests {
    @Test func parsesAPluginFile() throws {
        let config = try PluginConfig.parse(
            """
            enabled: true
            library: vendor/fraud.so
            sha256: "sha256:\(String(repeating: "AB", count: 32))"
            subscriptions: [ITEM_ADDED, PAYMENT_PROCESSED]
            lanes: 4
            max_attempts: 2
            settings:
              threshold: 1000
              rules: {rapid_items: {enabled: false}}
            """, name: "fraud_detection", directory: "/srv/plugins.d", path: "/srv/plugins.d/fraud_detection.yaml")
        #expect(config.enabled)
        #expect(config.libraryPath == "/srv/plugins.d/vendor/fraud.so")
        #expect(config.sha256 == String(repeating: "ab", count: 32))
        #expect(config.subscriptions == ["ITEM_ADDED", "PAYMENT_PROCESSED"])
        #expect(config.lanes == 4 && config.maxAttempts == 2)
        #expect(config.settings["rules"]?["rapid_items"]?["enabled"] == .bool(false))
    }

    @Test func supervisionOverridesLayerOverTheHostDefaults() throws {
        let host = try HostConfig.parse("supervision:\n  deadline_ms: 250\n  quarantine_after_crashes: 3\n", path: "/etc/pos/config.yaml")
        #expect(host.supervision.deadlineMilliseconds == 250 && host.supervision.quarantineAfterCrashes == 3)
        #expect(host.supervision.memoryLimitMegabytes == SupervisionSettings().memoryLimitMegabytes)
        let plugin = try PluginConfig.parse(
            "isolation: process\nsupervision:\n  deadline_ms: 40\n  memory_limit_mb: 128\n", name: "a", directory: "/p", path: "a.yaml")
        let effective = host.supervision.applying(plugin.supervision)
        #expect(effective.deadlineMilliseconds == 40 && effective.memoryLimitMegabytes == 128 && effective.quarantineAfterCrashes == 3)
        // Written back the same way.
        let again = try PluginConfig.parse(plugin.yamlText(directory: "/p"), name: "a", directory: "/p", path: "a.yaml")
        #expect(again == plugin)
    }

    @Test func defaultsToDisabledWithTheLibraryNamedAfterThePlugin() throws {
        let config = try PluginConfig.parse("", name: "age_verification", directory: "/p", path: "/p/age_verification.yaml")
        #expect(config.isolation == .process)
        #expect(!config.enabled)
        #expect(config.libraryPath == "/p/age_verification.so")
        #expect(config.settings == .object([:]))
    }

    @Test func rejectsWhatIsNotAvailableOrWellFormed() throws {
        let isolation = try #require(throws: ConfigError.self) { try PluginConfig.parse("isolation: sandbox\n", name: "a", directory: "/p", path: "a.yaml") }
        #expect(isolation.message == "'isolation' must be one of: inprocess, process")
        let limit = try #require(throws: ConfigError.self) {
            try PluginConfig.parse("supervision:\n  deadline_ms: 0\n", name: "a", directory: "/p", path: "a.yaml")
        }
        #expect(limit.description.hasPrefix("a.yaml:2:") && limit.message.contains("deadline_ms"))
        let unknownLimit = try #require(throws: ConfigError.self) {
            try PluginConfig.parse("supervision:\n  dead_line_ms: 10\n", name: "a", directory: "/p", path: "a.yaml")
        }
        #expect(unknownLimit.message.contains("unknown key 'dead_line_ms'"))
        let pin = try #require(throws: ConfigError.self) { try PluginConfig.parse("sha256: abc\n", name: "a", directory: "/p", path: "a.yaml") }
        #expect(pin.message.contains("64 hexadecimal digits"))
        let unknown = try #require(throws: ConfigError.self) { try PluginConfig.parse("enabled: true\nenable: false\n", name: "a", directory: "/p", path: "a.yaml") }
        #expect(unknown.description.hasPrefix("a.yaml:2:1: unknown key 'enable'"))
        let settings = try #require(throws: ConfigError.self) { try PluginConfig.parse("settings: [1]\n", name: "a", directory: "/p", path: "a.yaml") }
        #expect(settings.message == "'settings' must be a mapping")
        let badName = try #require(throws: ConfigError.self) { try PluginConfig.parse("", name: "Fraud-Detection", directory: "/p", path: "F.yaml") }
        #expect(badName.message.contains("not a valid plugin name"))
    }

    @Test func writtenFilesReadBackTheSame() throws {
        let original = PluginConfig(
            name: "fraud_detection", enabled: true, libraryPath: "/p/fraud_detection.so", sha256: String(repeating: "0", count: 64),
            subscriptions: ["ITEM_ADDED"], lanes: 2, maxAttempts: 3,
            settings: .object([
                "threshold": .number(1000), "label": .string("yes"), "code": .string("007"), "empty": .string(""),
                "rules": .object(["rapid_items": .object(["enabled": .bool(false), "window": .number(60.5)])]), "list": .array([.string("a b"), .number(1)]),
            ]))
        let text = original.yamlText(directory: "/p", header: "# kept comment")
        #expect(text.hasPrefix("# kept comment\n"))
        let parsed = try PluginConfig.parse(text, name: "fraud_detection", directory: "/p", path: "x.yaml")
        #expect(parsed == original)
    }

    @Test func settingKeyPathsCreateAndRemoveNestedValues() throws {
        var settings = JSONValue.object(["a": .number(1)])
        settings = try PluginSettingsFile.setting(settings, keyPath: "rules.rapid.threshold", to: .number(5))
        #expect(PluginSettingsFile.setting(settings, keyPath: "rules.rapid.threshold") == .number(5))
        settings = try PluginSettingsFile.setting(settings, keyPath: "a", to: nil)
        #expect(settings["a"] == nil)
        #expect(throws: HostError.self) { try PluginSettingsFile.setting(.object(["a": .number(1)]), keyPath: "a.b", to: .null) }
        #expect(throws: HostError.self) { try PluginSettingsFile.setting(.object([:]), keyPath: "a..b", to: .null) }
    }
}
