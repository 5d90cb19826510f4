import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Immutable copies of plugin libraries, named by their SHA-256, that workers load instead of
/// the file in `plugins.d`. Why: a worker restarted after a crash must load the version that
/// was running, not whatever file an upgrade has since put under the same name; and the pin is
/// checked on exactly the bytes that get loaded (no window between check and load).
enum LibrarySnapshots {
    /// A directory of this user's, mode 0700, whose ancestors pass the loader's trust check (so
    /// never under /tmp): `$POS_LIBRARY_SNAPSHOTS`, else `$RUNTIME_DIRECTORY/libraries` (systemd's
    /// RuntimeDirectory=), else `$XDG_RUNTIME_DIR/pos-plugin-libraries`, else
    /// `/run/pos-plugin-libraries-0` for root, else `~/.cache/pos-plugin-libraries-<euid>`.
    static func directory() throws(PluginLoadError) -> String {
        let environment = ProcessInfo.processInfo.environment
        let path: String
        if let explicit = environment["POS_LIBRARY_SNAPSHOTS"], !explicit.isEmpty {
            path = explicit
        } else if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first {
            path = runtime + "/libraries"
        } else if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            path = runtime + "/pos-plugin-libraries"
        } else if geteuid() == 0 {
            path = "/run/pos-plugin-libraries-0"
        } else {
            let cache = NSHomeDirectory() + "/.cache"
            mkdir(cache, 0o700)
            path = cache + "/pos-plugin-libraries-\(geteuid())"
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw PluginLoadError(.notFound, path: path, "cannot create the library snapshot directory: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw PluginLoadError(.unsafePermissions, path: path, "the library snapshot directory must be a directory of uid \(geteuid()) with mode 0700")
        }
        return path
    }

    /// Copies `path` into the snapshot directory (once per content) and returns the copy's
    /// path. With `pin`, refuses content whose SHA-256 differs.
    static func store(_ path: String, pin: String?) throws(PluginLoadError) -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PluginLoadError(.notFound, path: path, "cannot be read: \(error.localizedDescription)")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        if let pin, pin != digest {
            throw PluginLoadError(.checksumMismatch, path: path, "sha256 is \(digest) but the settings pin \(pin); refusing to load")
        }
        let target = try directory() + "/\(digest).so"
        if FileManager.default.fileExists(atPath: target) { return target }
        let temporary = target + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o444]),
            rename(temporary, target) == 0
        else {
            unlink(temporary)
            throw PluginLoadError(.notFound, path: path, "cannot snapshot the library into \(target): \(String(cString: strerror(errno)))")
        }
        return target
    }
}
