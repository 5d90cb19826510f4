import PluginABI

/// A plugin descriptor copied out of the plugin's memory field by field, without judging it:
/// the worker sends it to the host, which validates it (PluginDescriptorValidator) exactly as
/// it validates a descriptor loaded in-process.
public struct RawDescriptor: Sendable, Equatable {
    public var structSize: UInt32
    public var abiMajor: UInt16
    public var abiMinor: UInt16
    /// Whether the fields below were read (the struct is large enough and of this ABI major).
    public var complete: Bool = false
    public var name: String?
    public var version: String?
    public var description: String?
    /// nil when the pointer was NULL; at most `maximumSubscriptions + 1` entries are read.
    public var subscriptions: [String]?
    public var settingsSchema: String?
    public var defaultSettings: String?
    public var flags: UInt32 = 0
    public var hasVTable = false
    public var vtableSize: UInt32 = 0
    public var hasCreate = false
    public var hasDestroy = false
    public var hasHandleEvent = false
    public var hasReconfigure = false
    public var hasQuery = false
    /// ABI 1.1: the event types the plugin may emit (nil: NULL, or an ABI 1.0 descriptor).
    public var emits: [String]?
    /// ABI 1.1: the event types the plugin defines (nil: NULL or a descriptor without the field).
    public var eventTypes: [DeclaredEventType]?
    /// ABI 1.1: the POS_PLUGIN_HEADER_HASH the plugin was built with.
    public var headerHash: String?

    /// One `pos_event_type` as read: nil fields were NULL (or the entry's struct was too small).
    public struct DeclaredEventType: Sendable, Equatable {
        public var name: String?
        public var description: String?
        public var payloadSchema: String?
        public init(name: String?, description: String?, payloadSchema: String?) {
            self.name = name
            self.description = description
            self.payloadSchema = payloadSchema
        }
    }

    public static let maximumSubscriptions = 1024
    /// Size of the ABI 1.0 descriptor: the least a plugin of this major must provide.
    public static let minimumSize = MemoryLayout<pos_plugin_descriptor>.offset(of: \pos_plugin_descriptor.emits)!
    /// Sizes of the descriptor up to and including each field appended in 1.1: a 1.1 plugin
    /// built before a later field existed declares a smaller struct_size, and is read up to it.
    public static let sizeWithEmits = MemoryLayout<pos_plugin_descriptor>.offset(of: \pos_plugin_descriptor.event_types)!
    public static let sizeWithEventTypes = MemoryLayout<pos_plugin_descriptor>.offset(of: \pos_plugin_descriptor.header_hash)!
    public static let sizeWithHeaderHash = MemoryLayout<pos_plugin_descriptor>.size
    public static let minimumVTableSize = MemoryLayout<pos_plugin_vtable>.size

    public init(structSize: UInt32, abiMajor: UInt16, abiMinor: UInt16) {
        self.structSize = structSize
        self.abiMajor = abiMajor
        self.abiMinor = abiMinor
    }

    /// Copies `descriptor`. Reads only what the declared size and ABI major make safe to read.
    public init(reading descriptor: UnsafePointer<pos_plugin_descriptor>) {
        // Size and version sit first in every version: read them before anything else.
        let d = descriptor.pointee
        self.init(structSize: d.struct_size, abiMajor: d.abi_major, abiMinor: d.abi_minor)
        guard Int(d.struct_size) >= Self.minimumSize, d.abi_major == UInt16(POS_PLUGIN_ABI_MAJOR) else { return }
        complete = true
        name = d.name.map { String(cString: $0) }
        version = d.version.map { String(cString: $0) }
        description = d.description.map { String(cString: $0) }
        subscriptions = Self.list(d.subscriptions)
        // The 1.1 field exists only when the plugin's struct is large enough to hold it.
        if d.abi_minor >= 1, Int(d.struct_size) >= Self.sizeWithEmits { emits = Self.list(d.emits) }
        if d.abi_minor >= 1, Int(d.struct_size) >= Self.sizeWithEventTypes { eventTypes = Self.eventTypes(d.event_types) }
        if d.abi_minor >= 1, Int(d.struct_size) >= Self.sizeWithHeaderHash { headerHash = d.header_hash.map { String(cString: $0) } }
        settingsSchema = d.settings_schema.map { String(cString: $0) }
        defaultSettings = d.default_settings.map { String(cString: $0) }
        flags = d.flags
        if let vtable = d.vtable {
            hasVTable = true
            vtableSize = vtable.pointee.struct_size
            if Int(vtableSize) >= Self.minimumVTableSize {
                let functions = vtable.pointee
                hasCreate = functions.create != nil
                hasDestroy = functions.destroy != nil
                hasHandleEvent = functions.handle_event != nil
                hasReconfigure = functions.reconfigure != nil
                hasQuery = functions.query != nil
            }
        }
    }

    /// A NULL-terminated list of strings (nil for NULL), at most `maximumSubscriptions + 1` read.
    static func list(_ pointer: UnsafePointer<UnsafePointer<CChar>?>?) -> [String]? {
        guard var cursor = pointer else { return nil }
        var list: [String] = []
        while let entry = cursor.pointee, list.count <= Self.maximumSubscriptions {
            list.append(String(cString: entry))
            cursor += 1
        }
        return list
    }

    /// A NULL-terminated array of `pos_event_type` pointers (nil for NULL).
    static func eventTypes(_ pointer: UnsafePointer<UnsafePointer<pos_event_type>?>?) -> [DeclaredEventType]? {
        guard var cursor = pointer else { return nil }
        var list: [DeclaredEventType] = []
        while let entry = cursor.pointee, list.count <= Self.maximumSubscriptions {
            let type = entry.pointee
            if Int(type.struct_size) >= MemoryLayout<pos_event_type>.size {
                list.append(DeclaredEventType(
                    name: type.name.map { String(cString: $0) }, description: type.description.map { String(cString: $0) },
                    payloadSchema: type.payload_schema.map { String(cString: $0) }))
            } else {
                list.append(DeclaredEventType(name: nil, description: nil, payloadSchema: nil))
            }
            cursor += 1
        }
        return list
    }

    public func encode(into writer: inout WireWriter) {
        writer.u32(structSize)
        writer.u32(UInt32(abiMajor) << 16 | UInt32(abiMinor))
        writer.bool(complete)
        writer.optionalString(name)
        writer.optionalString(version)
        writer.optionalString(description)
        Self.writeList(subscriptions, into: &writer)
        writer.optionalString(settingsSchema)
        writer.optionalString(defaultSettings)
        writer.u32(flags)
        writer.u32(vtableSize)
        for flag in [hasVTable, hasCreate, hasDestroy, hasHandleEvent, hasReconfigure, hasQuery] { writer.bool(flag) }
        Self.writeList(emits, into: &writer)
        writer.bool(eventTypes != nil)
        if let eventTypes {
            writer.u32(UInt32(eventTypes.count))
            for type in eventTypes {
                writer.optionalString(type.name)
                writer.optionalString(type.description)
                writer.optionalString(type.payloadSchema)
            }
        }
        writer.optionalString(headerHash)
    }

    static func writeList(_ list: [String]?, into writer: inout WireWriter) {
        writer.bool(list != nil)
        guard let list else { return }
        writer.u32(UInt32(list.count))
        for entry in list { writer.string(entry) }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let size = try reader.u32()
        let version = try reader.u32()
        self.init(structSize: size, abiMajor: UInt16(version >> 16), abiMinor: UInt16(version & 0xffff))
        complete = try reader.bool()
        name = try reader.optionalString()
        self.version = try reader.optionalString()
        description = try reader.optionalString()
        subscriptions = try Self.readList(&reader, "subscriptions")
        settingsSchema = try reader.optionalString()
        defaultSettings = try reader.optionalString()
        flags = try reader.u32()
        vtableSize = try reader.u32()
        hasVTable = try reader.bool()
        hasCreate = try reader.bool()
        hasDestroy = try reader.bool()
        hasHandleEvent = try reader.bool()
        hasReconfigure = try reader.bool()
        hasQuery = try reader.bool()
        emits = try Self.readList(&reader, "emitted types")
        if try reader.bool() {
            let count = Int(try reader.u32())
            guard count <= Self.maximumSubscriptions + 1 else { throw WireError("too many declared event types") }
            var list: [DeclaredEventType] = []
            for _ in 0..<count {
                list.append(DeclaredEventType(name: try reader.optionalString(), description: try reader.optionalString(), payloadSchema: try reader.optionalString()))
            }
            eventTypes = list
        }
        headerHash = try reader.optionalString()
    }

    /// An optional list of strings as `encode` writes it (present flag, count, entries).
    static func readList(_ reader: inout WireReader, _ what: String) throws(WireError) -> [String]? {
        guard try reader.bool() else { return nil }
        let count = Int(try reader.u32())
        guard count <= Self.maximumSubscriptions + 1 else { throw WireError("too many \(what)") }
        var list: [String] = []
        for _ in 0..<count { list.append(try reader.string()) }
        return list
    }
}
