// swift-tools-version:6.0
// The POS plugin SDK for Swift, as scripts/install-sdk installs it (PREFIX/share/pos-plugin/
// pos-plugin-sdk): PluginABI (the C header) and PluginSDK (the POSPlugin protocol, state,
// emit, field access, the JSON codec). A plugin package depends on it by path; each plugin
// links its own static copy, so plugins built with different SDK versions load side by side.
import PackageDescription

let package = Package(
    name: "pos-plugin-sdk",
    products: [.library(name: "PluginSDK", targets: ["PluginSDK"])],
    targets: [
        .target(name: "PluginABI"),
        .target(name: "PluginSDK", dependencies: ["PluginABI"]),
    ],
    swiftLanguageModes: [.v6]
)
