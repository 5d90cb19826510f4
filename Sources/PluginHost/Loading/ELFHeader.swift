import Foundation

/// The few facts of an ELF header the loader checks before handing a file to dlopen, so that
/// "this is not a plugin" gets a precise message instead of dlopen's generic one.
struct ELFHeader {
    static let machineNames: [UInt16: String] = [3: "x86 (32-bit)", 40: "arm (32-bit)", 62: "x86_64", 183: "aarch64", 243: "riscv64", 21: "ppc64", 22: "s390x"]

    #if arch(x86_64)
    static let hostMachine: UInt16 = 62
    #elseif arch(arm64)
    static let hostMachine: UInt16 = 183
    #else
    static let hostMachine: UInt16 = 0
    #endif

    /// Nil when the file is a shared object for this machine, else the reason it is not.
    static func problem(withFileAt path: String) -> (PluginLoadError.Kind, String)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return (.notFound, "cannot be opened for reading") }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 64)) ?? Data())
        guard header.count >= 20, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else {
            let preview = header.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
            return (.notELF, "not an ELF shared object (first bytes: \(preview.isEmpty ? "empty file" : preview))")
        }
        guard header[4] == 2 else { return (.wrongArchitecture, "is a 32-bit ELF file; this host needs 64-bit plugins") }
        guard header[5] == 1 else { return (.wrongArchitecture, "is a big-endian ELF file; this host is little-endian") }
        let type = UInt16(header[16]) | UInt16(header[17]) << 8
        guard type == 3 else {
            let name = [1: "a relocatable object (.o)", 2: "an executable", 4: "a core dump"][Int(type)] ?? "ELF type \(type)"
            return (.notELF, "is \(name), not a shared object (build it with -shared -fPIC)")
        }
        let machine = UInt16(header[18]) | UInt16(header[19]) << 8
        guard hostMachine == 0 || machine == hostMachine else {
            let plugin = machineNames[machine] ?? "machine \(machine)"
            let host = machineNames[hostMachine] ?? "this machine"
            return (.wrongArchitecture, "built for \(plugin), this host is \(host)")
        }
        return nil
    }
}
