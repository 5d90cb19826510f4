import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks that a plugin file can be trusted before it is mapped into the host, as sshd's
/// StrictModes does for authorized_keys: nobody but its owner (root or the host's user) may
/// be able to replace it.
enum FileTrust {
    /// Nil when the file and its directory are safe, else the reason.
    static func problem(withFileAt path: String) -> (PluginLoadError.Kind, String)? {
        var fileInfo = stat()
        guard stat(path, &fileInfo) == 0 else { return (.notFound, "no such file (build and install it with scripts/build-plugins)") }
        guard (fileInfo.st_mode & S_IFMT) == S_IFREG else { return (.notFound, "is not a regular file") }
        if let problem = ownershipProblem(fileInfo, what: "the file", path: path) { return problem }
        let directory = (path as NSString).deletingLastPathComponent
        var directoryInfo = stat()
        guard stat(directory.isEmpty ? "." : directory, &directoryInfo) == 0 else { return (.notFound, "its directory cannot be read") }
        if let problem = ownershipProblem(directoryInfo, what: "its directory", path: directory) { return problem }
        return nil
    }

    static func ownershipProblem(_ info: stat, what: String, path: String) -> (PluginLoadError.Kind, String)? {
        let owner = info.st_uid
        if owner != 0 && owner != geteuid() {
            return (.unsafePermissions, "\(what) is owned by uid \(owner), neither root nor the host's user (uid \(geteuid()))")
        }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        let sticky = (info.st_mode & S_ISVTX) != 0
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 && !(isDirectory && sticky) {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            return (.unsafePermissions, "\(what) is writable by group or others (mode \(mode)); fix with: chmod go-w \(path)")
        }
        return nil
    }

    /// Lower-case hex SHA-256 of the file's content.
    static func sha256(ofFileAt path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
