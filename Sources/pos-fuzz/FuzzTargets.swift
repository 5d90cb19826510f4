import AAMVA
import Foundation
import PluginIPC
import PluginSDK

@testable import PluginHost

/// The decoders of outside bytes, each as a fuzz target: any input must give a value or an
/// error, never a trap, and what is accepted must satisfy the decoder's promises (checked
/// with `require`, so a broken promise is a crash the fuzzer reports).
enum FuzzTargets {
    static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("event", event), ("json", json), ("config", config), ("schema", schema),
        ("worker-frame", workerFrame), ("control-request", controlRequest), ("aamva", aamva), ("sdk-json", sdkJSON),
        ("payload-fields", payloadFields),
    ]

    static func target(named name: String) -> (@Sendable ([UInt8]) -> Void)? { all.first { $0.name == name }?.run }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("broken promise: \(message())") }
    }

    static let decoder = EventDecoder(maxEventBytes: 1 << 20, clock: ManualClock(milliseconds: 1_795_597_200_000))
    static let permissive = EventDecoder(maxEventBytes: 1 << 20, clock: ManualClock(milliseconds: 0), acceptUnknownTypes: true)

    /// Events in both formats: an accepted event has a canonical payload that is a JSON object
    /// serialised exactly as the host serialises it, a type the catalog knows, and an id.
    static func event(_ bytes: [UInt8]) {
        for candidate in [decoder, permissive] {
            guard let event = try? candidate.decode(bytes) else { continue }
            let payload = try? JSONValue.parse(event.payload)
            require(payload?.objectValue != nil, "payload is not an object")
            require(payload?.jsonBytes == event.payload, "payload is not canonical")
            require(!event.id.isEmpty && !event.type.isEmpty, "empty id or type")
            require(candidate.acceptUnknownTypes || EventCatalog.standard.spec(for: event.type) != nil, "type outside the catalog")
        }
    }

    /// ABI 1.1 field access: the first line is a path (a plugin's bytes), the rest a payload.
    /// On any bytes the scanner stays in bounds; on the host's canonical form of a payload it
    /// agrees with the JSON parser about what is at the path.
    static func payloadFields(_ bytes: [UInt8]) {
        let newline = bytes.firstIndex(of: 10) ?? bytes.count
        let path = Array(bytes[..<newline])
        let raw = newline < bytes.count ? Array(bytes[(newline + 1)...]) : []
        func probe(_ payload: [UInt8]) -> (PayloadFields.Slice?, [UInt8]?, Int64?, Double?, Bool?) {
            payload.withUnsafeBufferPointer { body in
                path.withUnsafeBufferPointer { path in
                    guard let slice = PayloadFields.find(body, path: path) else { return (nil, nil, nil, nil, nil) }
                    require(slice.range.lowerBound >= 0 && slice.range.upperBound <= body.count, "slice outside the payload")
                    return (slice, PayloadFields.string(body, slice), PayloadFields.int64(body, slice), PayloadFields.double(body, slice), PayloadFields.bool(body, slice))
                }
            }
        }
        _ = probe(raw)
        guard let value = try? JSONValue.parse(raw), case .object = value else { return }
        let canonical = value.jsonBytes
        var expected: JSONValue? = value
        if !path.isEmpty {
            for segment in path.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                let name = String(decoding: segment, as: UTF8.self)
                switch expected {
                case .object(let members)?: expected = members[name]
                case .array(let elements)?:
                    let index = segment.isEmpty || segment.count > 9 || !segment.allSatisfy({ (48...57).contains($0) }) ? nil : Int(name)
                    expected = index.flatMap { $0 < elements.count ? elements[$0] : nil }
                default: expected = nil
                }
            }
        }
        let (slice, string, integer, number, flag) = probe(canonical)
        switch expected {
        case nil: require(slice == nil, "found a value at a path that has none")
        case .string(let text)?: require(string == Array(text.utf8), "string differs from the parser's")
        case .number(let double)?:
            require(number == double, "number differs from the parser's")
            if let whole = JSONValue.number(double).exactInteger { require(integer == whole, "integer differs from the parser's") }
        case .bool(let truth)?: require(flag == truth, "boolean differs from the parser's")
        case .null?: require(slice?.kind == .null, "null not found")
        case .array?: require(slice?.kind == .array, "array not found")
        case .object?: require(slice?.kind == .object, "object not found")
        }
    }

    /// JSON: what parses re-serialises to text that parses to the same value.
    static func json(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        let again = try? JSONValue.parse(value.jsonBytes)
        require(again == value, "round trip changed the value")
    }

    /// The plugin SDK's codec (payloads, state values, settings inside a plugin): what decodes
    /// encodes to bytes that decode to the same value, and encoding is stable.
    static func sdkJSON(_ bytes: [UInt8]) {
        guard let value = try? PluginJSON.decode(AnyJSON.self, from: bytes) else { return }
        let encoded = try? PluginJSON.encode(value)
        require(encoded != nil, "an accepted value does not encode")
        let again = encoded.flatMap { try? PluginJSON.decode(AnyJSON.self, from: $0) }
        require(again == value, "round trip changed the value")
        require(again.flatMap { try? PluginJSON.encode($0) } == encoded, "encoding is not stable")
    }

    /// config.yaml and plugins.d/NAME.yaml: parsed or refused with a position.
    static func config(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? HostConfig.parse(text, path: "config.yaml")
        _ = try? PluginConfig.parse(text, name: "fuzz", directory: "/plugins.d", path: "/plugins.d/fuzz.yaml")
    }

    /// A JSON Schema (before the first NUL byte) and an instance (after it).
    static func schema(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        guard let schema = try? JSONSchema(JSONValue.parse(Array(bytes[..<split]))) else { return }
        let rest = split < bytes.count ? Array(bytes[(split + 1)...]) : []
        if let value = try? JSONValue.parse(rest) { _ = schema.violations(of: value) }
    }

    /// Worker protocol messages as the host reads them from a worker.
    static func workerFrame(_ bytes: [UInt8]) {
        var reader = WireReader(bytes)
        _ = try? EventResult(from: &reader)
        reader = WireReader(bytes)
        _ = try? CallEffects(from: &reader)
        reader = WireReader(bytes)
        _ = try? WireEvent(from: &reader)
    }

    /// A control-socket request line.
    static func controlRequest(_ bytes: [UInt8]) {
        _ = try? JSONDecoder().decode(ControlRequest.self, from: Data(bytes))
    }

    /// A scanned ID: any text reads or fails; what reads has valid dates.
    static func aamva(_ bytes: [UInt8]) {
        guard let document = try? IdentityDocument(scanned: String(decoding: bytes, as: UTF8.self)) else { return }
        require(document.dateOfBirth.isValid && document.expiry.isValid, "invalid date accepted")
        _ = document.reaches(age: 21)
        _ = document.underAgeDatesDisagree
    }
}

#if FUZZING
/// libFuzzer's entry: the target is chosen by `POS_FUZZ_TARGET`.
nonisolated(unsafe) var selectedTarget: (@Sendable ([UInt8]) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if selectedTarget == nil {
        let name = ProcessInfo.processInfo.environment["POS_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTargets.target(named: name) else {
            fatalError("POS_FUZZ_TARGET must be one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
        }
        selectedTarget = target
    }
    selectedTarget!(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links executables with their entry point renamed to `<module>_main`; under the
/// fuzzer that is libFuzzer's driver.
@_cdecl("pos_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
/// Without the fuzzer: replays inputs (a corpus, crash reproducers) through a target, so the
/// committed corpus runs in the ordinary test suite too.
@main
struct PosFuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2, let target = FuzzTargets.target(named: arguments[0]) else {
            FileHandle.standardError.write(Data("usage: pos-fuzz TARGET FILE|DIR... (targets: \(FuzzTargets.all.map(\.name).joined(separator: ", ")))\n".utf8))
            exit(64)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target(Array(data))
                count += 1
            }
        }
        print("\(arguments[0]): \(count) inputs replayed, no crash")
    }
}
#endif

/// Any JSON value through Codable (what a plugin's types decode through the SDK).
indirect enum AnyJSON: Codable, Equatable {
    case null, bool(Bool), integer(Int64), double(Double), string(String), array([AnyJSON]), object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            self = .integer(number)
        } else if let number = try? container.decode(Double.self) {
            self = .double(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let elements = try? container.decode([AnyJSON].self) {
            self = .array(elements)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .integer(let number): try container.encode(number)
        case .double(let number): try container.encode(number)
        case .string(let text): try container.encode(text)
        case .array(let elements): try container.encode(elements)
        case .object(let members): try container.encode(members)
        }
    }
}
