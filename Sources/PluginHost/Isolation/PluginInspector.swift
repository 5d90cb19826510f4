/// Describes a plugin file by loading it in a throwaway worker process, the same way the host
/// starts isolated plugins, so a broken or hostile `.so` (crashing constructor, infinite loop)
/// cannot harm the caller.
public enum PluginInspector {
    public enum Outcome: Sendable {
        case manifest(PluginManifest)
        case failed(PluginLoadError)
    }

    public static func inspect(path: String, timeoutSeconds: Double = 10) -> Outcome {
        var supervision = SupervisionSettings()
        supervision.loadTimeoutMilliseconds = max(10, Int(timeoutSeconds * 1000))
        do {
            let started = try WorkerPluginInstance.launch(name: nil, path: path, sha256: nil, settings: nil, context: nil, supervision: supervision)
            WorkerPluginInstance.retire(started.worker)
            return .manifest(started.description.manifest)
        } catch {
            return .failed(error)
        }
    }
}
