import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// Maps a plugin library and asks its entry for a descriptor: the step that runs plugin code
/// (constructors, entry). Shared by the in-process loader and the worker process.
public enum PluginOpener {
    public enum Stage: UInt8, Sendable {
        case dlopen = 1, missingEntry = 2, noDescriptor = 3
    }

    public struct Failure: Error, Sendable {
        public var stage: Stage
        /// dlerror() text for `dlopen`, empty otherwise.
        public var detail: String
        public init(stage: Stage, detail: String) {
            self.stage = stage
            self.detail = detail
        }
    }

    /// Wraps the descriptor pointer; it points to plugin-owned static data that is never unmapped.
    public struct Descriptor: @unchecked Sendable {
        public let pointer: UnsafePointer<pos_plugin_descriptor>
    }

    public static func open(path: String) -> Result<Descriptor, Failure> {
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            return .failure(Failure(stage: .dlopen, detail: dlerror().map { String(cString: $0) } ?? "unknown error"))
        }
        guard let symbol = dlsym(handle, POS_PLUGIN_ENTRY_SYMBOL) else {
            return .failure(Failure(stage: .missingEntry, detail: ""))
        }
        let entry = unsafeBitCast(symbol, to: pos_plugin_entry_fn.self)
        guard let descriptor = entry(UInt16(POS_PLUGIN_ABI_MAJOR), UInt16(POS_PLUGIN_ABI_MINOR)) else {
            return .failure(Failure(stage: .noDescriptor, detail: ""))
        }
        return .success(Descriptor(pointer: descriptor))
    }
}
