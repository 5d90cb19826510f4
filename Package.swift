// swift-tools-version:6.2
import PackageDescription

// Every Swift plugin is a dynamic library that must never be unmapped (dlclose of a Swift
// image crashes the runtime later) and must export nothing but its entry symbol, so that two
// plugins carrying their own static copy of PluginSDK never see each other's symbols.
let pluginLinkerFlags: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "-z", "-Xlinker", "nodelete",
        "-Xlinker", "--version-script=\(Context.packageDirectory)/PluginsSrc/plugin.exports",
    ])
]

let package = Package(
    name: "pos-plugin-host",
    products: [
        .executable(name: "pos-host", targets: ["pos-host"]),
        .executable(name: "pos-api", targets: ["pos-api"]),
        .executable(name: "pluginctl", targets: ["pluginctl"]),
        .executable(name: "pos-plugin-worker", targets: ["pos-plugin-worker"]),
        .executable(name: "pos-bench", targets: ["pos-bench"]),
        .executable(name: "pos-loadgen", targets: ["pos-loadgen"]),
        .executable(name: "pos-kafka-mock", targets: ["pos-kafka-mock"]),
        .library(name: "PluginSDK", targets: ["PluginSDK"]),
        .library(name: "POSPlatform", targets: ["POSPlatform"]),
        .library(name: "PluginHost", targets: ["PluginHost"]),
        .library(name: "basket_tally", type: .dynamic, targets: ["BasketTallyPlugin"]),
        .library(name: "fraud_detection", type: .dynamic, targets: ["FraudDetectionPlugin"]),
        .library(name: "employee_time_tracker", type: .dynamic, targets: ["TimeTrackerPlugin"]),
        .library(name: "age_verification", type: .dynamic, targets: ["AgeVerificationPlugin"]),
        .library(name: "purchase_recommender", type: .dynamic, targets: ["RecommenderPlugin"]),
        .library(name: "customer_lookup", type: .dynamic, targets: ["CustomerLookupPlugin"]),
        // A test fixture: a Swift plugin that crashes, leaks or hangs on request.
        .library(name: "misbehaving_swift", type: .dynamic, targets: ["MisbehavingSwiftPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/GraphQLSwift/Graphiti", from: "3.1.0"),
        .package(url: "https://github.com/GraphQLSwift/GraphQL", from: "4.3.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // The stable C ABI: a header and nothing else (abi.c only exists because SwiftPM needs a source file).
        .target(name: "PluginABI", path: "Sources/PluginABI"),
        .systemLibrary(
            name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(
            name: "CRdKafka", path: "Sources/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        // Wrappers for the librdkafka calls Swift cannot make (variadic functions).
        .target(name: "KafkaShim", dependencies: ["CRdKafka"], linkerSettings: [.linkedLibrary("rdkafka")]),

        // The host-worker wire protocol, shared by both sides; deliberately without Foundation so
        // the worker starts in milliseconds.
        .target(name: "PluginIPC", dependencies: ["PluginABI"]),
        .target(name: "PluginSDK", dependencies: ["PluginABI"]),
        // Reading AAMVA driver licence / ID card barcodes and calendar-day age rules (no Foundation).
        .target(name: "AAMVA"),
        // The few system calls the worker makes that Swift cannot (prctl is variadic).
        .target(name: "WorkerSupport", path: "Sources/WorkerSupport"),
        // What pos-host and pos-api both need, without the plugin machinery: the Kafka client and
        // producer, PostgreSQL, the event catalog, JSON, YAML, systemd and logging.
        .target(
            name: "POSPlatform",
            dependencies: [
                "CYAML", "CRdKafka", "KafkaShim", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "PluginHost",
            dependencies: [
                "POSPlatform", "PluginABI", "PluginIPC", "CYAML", "CRdKafka", "KafkaShim", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // The checkout: the POS domain (catalogue, baskets, tenders, sign-in) and its GraphQL API.
        .target(
            name: "POSCheckout",
            dependencies: [
                "POSPlatform", "AAMVA",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Graphiti", package: "Graphiti"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        .executableTarget(
            name: "pos-api",
            dependencies: ["POSCheckout", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "pos-host",
            dependencies: ["PluginHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "pluginctl",
            dependencies: ["PluginHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "pos-plugin-worker", dependencies: ["PluginABI", "PluginIPC", "WorkerSupport"]),
        .executableTarget(
            name: "pos-loadgen",
            dependencies: ["PluginHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "pos-kafka-mock",
            dependencies: ["PluginHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Fuzz targets for every decoder of outside bytes: a corpus replayer in ordinary builds,
        // a libFuzzer binary when built by scripts/fuzz (-DFUZZING -sanitize=fuzzer).
        .executableTarget(name: "pos-fuzz", dependencies: ["PluginHost", "PluginIPC", "PluginSDK", "AAMVA"]),
        .executableTarget(
            name: "pos-bench",
            dependencies: ["PluginHost", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .target(
            name: "BasketTallyPlugin", dependencies: ["PluginSDK"], path: "PluginsSrc/basket_tally",
            linkerSettings: pluginLinkerFlags),

        .target(
            name: "FraudDetectionPlugin", dependencies: ["PluginSDK"], path: "PluginsSrc/fraud_detection",
            linkerSettings: pluginLinkerFlags),
        .target(
            name: "TimeTrackerPlugin", dependencies: ["PluginSDK"], path: "PluginsSrc/employee_time_tracker",
            linkerSettings: pluginLinkerFlags),
        .target(
            name: "AgeVerificationPlugin", dependencies: ["PluginSDK", "AAMVA"], path: "PluginsSrc/age_verification",
            linkerSettings: pluginLinkerFlags),
        .target(
            name: "RecommenderPlugin", dependencies: ["PluginSDK"], path: "PluginsSrc/purchase_recommender",
            linkerSettings: pluginLinkerFlags),
        .target(
            name: "CustomerLookupPlugin", dependencies: ["PluginSDK"], path: "PluginsSrc/customer_lookup",
            linkerSettings: pluginLinkerFlags),
        .target(
            name: "MisbehavingSwiftPlugin", dependencies: ["PluginSDK"], path: "Tests/Fixtures/MisbehavingSwift",
            linkerSettings: pluginLinkerFlags),

        .testTarget(name: "PluginHostTests", dependencies: ["POSPlatform", "POSCheckout", "PluginHost", "PluginSDK", "AAMVA"]),
    ],
    swiftLanguageModes: [.v6]
)
