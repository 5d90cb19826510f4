import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks that a plugin file can be trusted before it is mapped into the host, as sshd's
/// StrictModes does for authorized_keys: nobody but root or the host's user may be able to
/// replace it. Checked on the real path (symlinks resolved): the file and **every** directory up
/// to `/` must be owned by root or the host's user and not writable by group or others. A sticky
/// directory is refused too: its other users cannot replace our file, but they can create the
/// names a symlink or a plugins_dir may later resolve through, and an operator who puts plugins
/// under /tmp has made a mistake worth stopping.
enum FileTrust {
    /// Nil when the file and every directory above it are safe, else the reason.
    static func problem(withFileAt path: String) -> (PluginLoadError.Kind, String)? {
        switch resolve(path) {
        case .success: return nil
        case .failure(let failure): return (failure.kind, failure.reason)
        }
    }

    struct Failure: Error {
        var kind: PluginLoadError.Kind
        var reason: String
    }

    /// The real path of a trusted plugin file, or why it is not trusted.
    static func resolve(_ path: String) -> Result<String, Failure> {
        guard let resolved = realpath(path, nil) else {
            return .failure(Failure(kind: .notFound, reason: "no such file (build and install it with scripts/build-plugins)"))
        }
        let real = String(cString: resolved)
        free(resolved)
        let named = real == path ? "the file" : "the file (\(real), where the symlink leads)"
        var fileInfo = stat()
        guard stat(real, &fileInfo) == 0 else { return .failure(Failure(kind: .notFound, reason: "no such file")) }
        guard (fileInfo.st_mode & S_IFMT) == S_IFREG else { return .failure(Failure(kind: .notFound, reason: "is not a regular file")) }
        if let problem = ownershipProblem(fileInfo, what: named, path: real) { return .failure(Failure(kind: problem.0, reason: problem.1)) }
        var directory = (real as NSString).deletingLastPathComponent
        var first = true
        while true {
            if directory.isEmpty { directory = "/" }
            var info = stat()
            guard stat(directory, &info) == 0 else { return .failure(Failure(kind: .notFound, reason: "the directory \(directory) cannot be read")) }
            let what = first ? "its directory \(directory)" : "the directory \(directory) above it"
            if let problem = ownershipProblem(info, what: what, path: directory) { return .failure(Failure(kind: problem.0, reason: problem.1)) }
            if directory == "/" { return .success(real) }
            directory = (directory as NSString).deletingLastPathComponent
            first = false
        }
    }

    static func ownershipProblem(_ info: stat, what: String, path: String) -> (PluginLoadError.Kind, String)? {
        let owner = info.st_uid
        if owner != 0 && owner != geteuid() {
            return (.unsafePermissions, "\(what) is owned by uid \(owner), neither root nor the host's user (uid \(geteuid()))")
        }
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            let sticky = (info.st_mode & S_ISVTX) != 0 ? " (sticky directories such as /tmp are refused too)" : ""
            return (.unsafePermissions, "\(what) is writable by group or others (mode \(mode))\(sticky); fix with: chmod go-w \(path), or install plugins elsewhere")
        }
        return nil
    }

    /// Lower-case hex SHA-256 of the file's content.
    static func sha256(ofFileAt path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
