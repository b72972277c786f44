#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The directory holding the built products (`cgwarden`, `cgwarden-testload`):
/// the test bundle sits beside them.
public func productsDirectory() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    precondition(n > 0)
    let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(exe[..<exe.lastIndex(of: "/")!])
}

public var cgwardenBinary: String { productsDirectory() + "/cgwarden" }
public var testloadBinary: String { productsDirectory() + "/cgwarden-testload" }

/// How a child process ended.
public enum Termination: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus s: Int32) {
        if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
    }

    public var description: String {
        switch self {
        case .exited(let c): return "exit \(c)"
        case .signaled(let s): return "signal \(s)"
        }
    }
}

/// A started child process (posix_spawn: tests run multithreaded).
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    private var reaped: Termination?

    public init(_ argv: [String]) throws {
        var pid: pid_t = 0
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw KernelTestError("spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Waits for the end (blocking).
    @discardableResult
    public func wait() -> Termination {
        if let reaped { return reaped }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = Termination(waitStatus: status)
        return reaped!
    }

    /// The end if it came within `seconds`, else nil.
    public func wait(seconds: Double) -> Termination? {
        if let reaped { return reaped }
        var status: Int32 = 0
        let ok = waitUntil(seconds: seconds) { waitpid(pid, &status, WNOHANG) == pid }
        guard ok else { return nil }
        reaped = Termination(waitStatus: status)
        return reaped
    }

    public var isRunning: Bool { reaped == nil && kill(pid, 0) == 0 && wait(seconds: 0) == nil }

    deinit {
        if reaped == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }
}

/// Runs a command to its end, capturing standard output and error.
public func run(_ argv: [String]) throws -> (status: Termination, stdout: String, stderr: String) {
    var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
    guard cgw_pipe_cloexec(&outPipe) == 0, cgw_pipe_cloexec(&errPipe) == 0 else {
        throw KernelTestError("pipe: \(String(cString: strerror(errno)))")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    var pid: pid_t = 0
    var cargs = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
    close(outPipe[1])
    close(errPipe[1])
    guard rc == 0 else {
        close(outPipe[0]); close(errPipe[0])
        throw KernelTestError("spawn \(argv[0]): \(String(cString: strerror(rc)))")
    }
    // Drain both pipes with poll so a chatty stderr cannot block stdout.
    var out: [UInt8] = [], err: [UInt8] = []
    var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
               pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
    var open = 2
    var buf = [UInt8](repeating: 0, count: 65536)
    while open > 0 {
        if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; break }
        for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
            let n = buf.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if i == 0 { out += buf[0..<n] } else { err += buf[0..<n] }
            } else if n == 0 || errno != EINTR {
                close(fds[i].fd)
                fds[i].fd = -1
                open -= 1
            }
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (Termination(waitStatus: status), String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}
