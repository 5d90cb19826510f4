import Foundation

/// Faults the crash tests inject into a real host, switched on only by environment variables
/// that no deployment sets.
enum FaultInjection {
    /// `POS_FAULT_TRAP_ON_DECODE=<marker>`: decoding a record whose bytes contain the marker
    /// traps, as a decoder bug would (the test of ``DecodeCrashJournal`` on a real host).
    static let decodeTrapMarker: [UInt8]? = ProcessInfo.processInfo.environment["POS_FAULT_TRAP_ON_DECODE"].flatMap { $0.isEmpty ? nil : Array($0.utf8) }

    static func trapIfMarked(_ bytes: [UInt8]) {
        guard let marker = decodeTrapMarker, bytes.count >= marker.count else { return }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] && bytes[start..<start + marker.count].elementsEqual(marker) {
            fatalError("fault injected: decoding a record marked \(String(decoding: marker, as: UTF8.self))")
        }
    }
}
