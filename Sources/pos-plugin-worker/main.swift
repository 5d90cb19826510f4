// pos-plugin-worker: runs one plugin instance for the host (`isolation: process`).
//
//   pos-plugin-worker --serve [--memory-limit-mb N] [--cpu-limit-seconds N]
//
// The host passes one end of a socketpair as file descriptor 3 and speaks the worker protocol
// over it (docs/worker-protocol.md). The worker confines itself before it maps the plugin,
// serves calls one at a time, and exits when the host says so or closes the socket. It does
// not use Foundation, so it starts in a few milliseconds (a C plugin loads in the same time).
import PluginIPC
import WorkerSupport

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String, status: Int32) -> Never {
    let line = "pos-plugin-worker: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

var memoryLimitMB: UInt64 = 0
var cpuLimitSeconds: UInt64 = 0
var arguments = CommandLine.arguments.dropFirst()
guard arguments.first == "--serve" else {
    fail("usage: pos-plugin-worker --serve [--memory-limit-mb N] [--cpu-limit-seconds N] (started by pos-host)", status: 64)
}
arguments = arguments.dropFirst()
while let option = arguments.first {
    arguments = arguments.dropFirst()
    guard let text = arguments.first, let value = UInt64(text) else { fail("\(option) needs a number", status: 64) }
    arguments = arguments.dropFirst()
    switch option {
    case "--memory-limit-mb": memoryLimitMB = value
    case "--cpu-limit-seconds": cpuLimitSeconds = value
    default: fail("unknown option \(option)", status: 64)
    }
}

let socketDescriptor: Int32 = 3
let confined = pos_worker_confine(socketDescriptor, memoryLimitMB << 20, cpuLimitSeconds)
guard confined == 0 else { fail("cannot confine the worker: \(String(cString: strerror(-confined)))", status: 71) }

WorkerLoop(channel: FrameChannel(descriptor: socketDescriptor)).run()
