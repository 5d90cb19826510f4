#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP GET with a hard deadline, over a plain socket. Hand-written (see
/// docs/adr/0011-customer-directory-client.md): URLSession on Linux brings libcurl into every
/// worker and cannot bound connect + read by one deadline in a single-threaded worker; the
/// directory needs one GET of a small JSON document.
struct DirectoryClient {
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    enum Failure: Error, CustomStringConvertible {
        case badURL(String)
        case timeout
        case network(String)
        var description: String {
            switch self {
            case .badURL(let url): "not an http:// URL: \(url)"
            case .timeout: "timed out"
            case .network(let reason): reason
            }
        }
    }

    let host: String
    let port: String
    let basePath: String

    init(endpoint: String) throws(Failure) {
        guard endpoint.hasPrefix("http://") else { throw .badURL(endpoint) }
        let rest = endpoint.dropFirst(7)
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = String(authority[authority.index(after: colon)...])
        } else {
            host = String(authority)
            port = "80"
        }
        guard !host.isEmpty, Int(port) != nil else { throw .badURL(endpoint) }
    }

    /// `GET {endpoint}/{escaped identifier}/` within `timeoutMilliseconds`.
    func get(_ identifier: String, timeoutMilliseconds: Int) throws(Failure) -> Response {
        let deadline = Self.now() + timeoutMilliseconds
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &found) == 0, let address = found else { throw .network("cannot resolve \(host)") }
        defer { freeaddrinfo(found) }
        let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .network("socket failed") }
        defer { close(fd) }
        if connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            throw .network("connect failed: \(String(cString: strerror(errno)))")
        }
        try wait(fd, for: Int16(POLLOUT), until: deadline)
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else { throw .network("connect failed: \(String(cString: strerror(error)))") }

        // HTTP/1.0: the server never chunks the response; it closes after it, or (some servers
        // keep even 1.0 connections open) sends a Content-Length, which ends it as well.
        let request = Array("GET \(basePath)/\(Self.escape(identifier))/ HTTP/1.0\r\nHost: \(host)\r\nAccept: application/json\r\nUser-Agent: pos-customer-lookup\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            try wait(fd, for: Int16(POLLOUT), until: deadline)
            let count = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno != EAGAIN && errno != EINTR { throw .network("send failed") }
            if count > 0 { sent += count }
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            try wait(fd, for: Int16(POLLIN), until: deadline)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count == 0 { break }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw .network("recv failed")
            }
            response.append(contentsOf: buffer[0..<count])
            guard response.count < 1 << 20 else { throw .network("response larger than 1 MB") }
            if let split = Self.find([13, 10, 13, 10], in: response), let length = Self.contentLength(response[..<split]), response.count - split - 4 >= length {
                response.removeLast(response.count - split - 4 - length)
                break
            }
        }
        guard let split = Self.find([13, 10, 13, 10], in: response) else { throw .network("malformed HTTP response") }
        let statusLine = String(decoding: response.prefix { $0 != 13 }, as: UTF8.self).split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw .network("malformed HTTP status line") }
        return Response(status: status, body: Array(response[(split + 4)...]))
    }

    private func wait(_ fd: Int32, for events: Int16, until deadline: Int) throws(Failure) {
        while true {
            let remaining = deadline - Self.now()
            guard remaining > 0 else { throw .timeout }
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, Int32(remaining))
            if ready > 0 { return }
            if ready == 0 { throw .timeout }
            if errno != EINTR { throw .network("poll failed") }
        }
    }

    static func now() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1000 + time.tv_nsec / 1_000_000
    }

    /// The Content-Length of a response's header block, when it declares one.
    static func contentLength(_ head: ArraySlice<UInt8>) -> Int? {
        for line in String(decoding: head, as: UTF8.self).split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" { return Int(parts[1].filter { $0 != " " && $0 != "\t" }) }
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        return nil
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986).
    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let unreserved = (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 45 || byte == 46 || byte == 95 || byte == 126
            if unreserved { result.unicodeScalars.append(Unicode.Scalar(byte)) } else { result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2) }
        }
        return result
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
