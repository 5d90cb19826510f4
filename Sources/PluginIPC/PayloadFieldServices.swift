import PluginABI

/// The `event_get_*` host services over a payload, as C function bodies: the host's table and
/// the worker's each find the call's payload (nil outside handle_event) and call these.
public enum PayloadFieldServices {
    typealias Path = (UnsafePointer<CChar>?, Int)

    /// Finds the value at the path and hands it to `body`, mapping absence to NOT_FOUND.
    static func with(
        _ payload: [UInt8]?, _ path: Path, _ body: (UnsafeBufferPointer<UInt8>, PayloadFields.Slice) -> pos_status
    ) -> pos_status {
        guard let payload else { return POS_STATUS_NOT_ALLOWED }
        guard path.1 >= 0, path.1 <= 4096, path.0 != nil || path.1 == 0 else { return POS_STATUS_ERROR }
        return payload.withUnsafeBufferPointer { bytes in
            let pathBytes = path.0.map { UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: path.1) }
                ?? UnsafeBufferPointer(start: nil, count: 0)
            guard let slice = PayloadFields.find(bytes, path: pathBytes), slice.kind != .null else { return POS_STATUS_NOT_FOUND }
            return body(bytes, slice)
        }
    }

    static func write(_ bytes: [UInt8], to out: UnsafeMutablePointer<pos_writer>?) -> pos_status {
        guard let out else { return POS_STATUS_OK }
        return bytes.withUnsafeBufferPointer { out.pointee.write(out.pointee.context, $0.baseAddress, $0.count) }
    }

    public static func string(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<pos_writer>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let text = PayloadFields.string(bytes, slice) else { return POS_STATUS_ERROR }
            return write(text, to: out)
        }
    }

    public static func int64(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<Int64>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let value = PayloadFields.int64(bytes, slice) else { return POS_STATUS_ERROR }
            out?.pointee = value
            return POS_STATUS_OK
        }
    }

    public static func double(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<Double>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let value = PayloadFields.double(bytes, slice) else { return POS_STATUS_ERROR }
            out?.pointee = value
            return POS_STATUS_OK
        }
    }

    public static func bool(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<Int32>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let value = PayloadFields.bool(bytes, slice) else { return POS_STATUS_ERROR }
            out?.pointee = value ? 1 : 0
            return POS_STATUS_OK
        }
    }

    public static func length(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<Int>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let count = PayloadFields.length(bytes, slice) else { return POS_STATUS_ERROR }
            out?.pointee = count
            return POS_STATUS_OK
        }
    }

    public static func json(_ payload: [UInt8]?, _ path: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<pos_writer>?) -> pos_status {
        with(payload, (path, length)) { bytes, slice in
            guard let out else { return POS_STATUS_OK }
            let text = UnsafeBufferPointer(rebasing: bytes[slice.range])
            return out.pointee.write(out.pointee.context, text.baseAddress, text.count)
        }
    }
}
