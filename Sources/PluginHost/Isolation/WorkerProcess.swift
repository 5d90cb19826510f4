import Foundation
import PluginIPC

#if canImport(Glibc)
import Glibc
#endif

/// A `pos-plugin-worker` child process and the host's end of its socket.
///
/// Spawned with posix_spawn: a fresh process image (no forked copy of the host's threads and
/// locks), its own process group (terminal signals go to the host, which drains first), default
/// signal dispositions and an empty signal mask, `SWIFT_BACKTRACE=enable=no` (a crash closes
/// the socket at once instead of after a backtrace). The worker confines itself further before
/// it maps the plugin (no new privileges, death with the host, limits, no other descriptors).
final class WorkerProcess: @unchecked Sendable {
    // @unchecked: `reaped` is only touched by the instance that owns the worker, under its lock.
    let pid: pid_t
    let channel: FrameChannel
    let startedAt: UInt64
    private var reaped: String?

    private init(pid: pid_t, channel: FrameChannel) {
        self.pid = pid
        self.channel = channel
        self.startedAt = FrameChannel.monotonicNanoseconds()
    }

    /// The worker executable: $POS_PLUGIN_WORKER, else `pos-plugin-worker` next to this executable.
    static func executablePath() -> String {
        if let path = ProcessInfo.processInfo.environment["POS_PLUGIN_WORKER"] { return path }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent + "/pos-plugin-worker"
    }

    static let environment: [String] = {
        var variables = ProcessInfo.processInfo.environment
        variables["SWIFT_BACKTRACE"] = "enable=no"
        return variables.map { "\($0.key)=\($0.value)" }
    }()

    static func spawn(settings: SupervisionSettings) throws(HostError) -> WorkerProcess {
        let executable = executablePath()
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw HostError("cannot create the worker socket: \(String(cString: strerror(errno)))")
        }
        let (hostEnd, workerEnd) = (pair[0], pair[1])
        defer { close(workerEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if workerEnd == 3 {
            // dup2 onto itself would keep close-on-exec: move it out of the way first.
            posix_spawn_file_actions_adddup2(&actions, workerEnd, 100)
            posix_spawn_file_actions_adddup2(&actions, 100, 3)
        } else {
            posix_spawn_file_actions_adddup2(&actions, workerEnd, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var arguments = [executable, "--serve"]
        if settings.memoryLimitMegabytes > 0 { arguments += ["--memory-limit-mb", String(settings.memoryLimitMegabytes)] }
        if settings.cpuLimitSeconds > 0 { arguments += ["--cpu-limit-seconds", String(settings.cpuLimitSeconds)] }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, &envp)
        guard status == 0 else {
            close(hostEnd)
            throw HostError("cannot start the plugin worker \(executable): \(String(cString: strerror(status)))")
        }
        return WorkerProcess(pid: pid, channel: FrameChannel(descriptor: hostEnd))
    }

    /// Kills the worker at once (SIGKILL to it alone).
    func kill() {
        if reaped == nil { _ = Glibc.kill(pid, SIGKILL) }
    }

    /// Waits for the worker to end (killing it after `graceMilliseconds`) and says how it ended.
    @discardableResult
    func reap(graceMilliseconds: Int = 200) -> String {
        if let reaped { return reaped }
        let deadline = FrameChannel.monotonicMilliseconds() + UInt64(graceMilliseconds)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR {
                reaped = "its exit status is unknown (\(String(cString: strerror(errno))))"
                return reaped!
            }
            if FrameChannel.monotonicMilliseconds() >= deadline {
                _ = Glibc.kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(200)
        }
        reaped = Self.describe(status: status)
        return reaped!
    }

    /// "killed by SIGSEGV (Segmentation fault)" or "exited with status 3".
    static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        let names: [Int32: String] = [
            SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL",
            SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGTRAP: "SIGTRAP", SIGSYS: "SIGSYS",
        ]
        let text = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
        return "killed by \(names[signal] ?? "signal \(signal)") (\(text))"
    }

    /// Resident memory of the worker in KiB, from /proc.
    var residentKilobytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }
}
