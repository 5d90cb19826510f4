// The host's public API speaks in the shared platform's types (JSONValue, KafkaMessage,
// PostgresConnection, EventCatalog, ...): re-exported so that `import PluginHost` is enough for
// pluginctl, the tools and plugin-host embedders, as before the platform was split out.
@_exported import POSPlatform
