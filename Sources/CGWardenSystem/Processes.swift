#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Process calls: signals, pidfds, reaping, spawning.
public enum Processes {
    /// `kill(pid, signal)`; the error names the pid.
    public static func signal(_ pid: Int32, _ signal: Int32) throws(SystemError) {
        _ = try syscall("kill", path: String(pid)) { Glibc.kill(pid, signal) }
    }

    /// `pidfd_open(pid)` (Linux 5.3+): a handle on the process that outlives its pid's reuse.
    public static func pidfd(_ pid: Int32) throws(SystemError) -> Int32 {
        try syscall("pidfd_open", path: String(pid)) { cgw_pidfd_open(pid) }
    }

    /// `process_mrelease(pidfd)` (Linux 5.15+): reaps the memory of a process
    /// that was SIGKILLed without waiting for its exit to complete.
    public static func releaseMemory(_ pidfd: Int32) throws(SystemError) {
        _ = try syscall("process_mrelease") { cgw_process_mrelease(pidfd) }
    }

    /// `waitpid(pid)`: the wait status once `pid` ended and is reaped; nil
    /// when it still runs and `block` is false (WNOHANG).
    public static func wait(_ pid: Int32, block: Bool) throws(SystemError) -> Int32? {
        var status: Int32 = 0
        let rc = try syscall("waitpid", path: String(pid)) { waitpid(pid, &status, block ? 0 : WNOHANG) }
        return rc == pid ? status : nil
    }

    /// `posix_spawn` of `path` with `argv` and exactly `environment`: standard
    /// input is /dev/null, `descriptor` is duplicated to `target` and every
    /// descriptor above `target` is closed in the child
    /// (`posix_spawn_file_actions_addclosefrom_np`; before glibc 2.34, one
    /// close action per descriptor open in /proc/self/fd); the signal mask is
    /// cleared and every disposition reset to the default. Output and error
    /// are inherited.
    public static func spawn(_ path: String, argv: [String], environment: [String],
                             passing descriptor: Int32, as target: Int32) throws(SystemError) -> pid_t {
        try spawn(path, argv: argv, environment: environment,
                  files: [.open(0, "/dev/null", O_RDONLY), .duplicate(descriptor, as: target)],
                  closingFrom: target + 1, ownProcessGroup: false)
    }

    /// `posix_spawn` of a command with `input` as its standard input and
    /// /dev/null as its output and error, every other descriptor closed, the
    /// signal mask and dispositions reset, exactly `environment`, in a process
    /// group of its own (so that its children can be killed with it): an
    /// operator's hook, run by the unprivileged side.
    public static func spawn(_ path: String, argv: [String], environment: [String], input: Int32) throws(SystemError) -> pid_t {
        try spawn(path, argv: argv, environment: environment,
                  files: [.duplicate(input, as: 0), .open(1, "/dev/null", O_WRONLY), .duplicate(1, as: 2)],
                  closingFrom: 3, ownProcessGroup: true)
    }

    /// What the child's descriptors become, in order, before execve.
    enum FileAction {
        case open(Int32, String, Int32)
        case duplicate(Int32, as: Int32)
    }

    private static func spawn(_ path: String, argv: [String], environment: [String], files: [FileAction],
                              closingFrom first: Int32, ownProcessGroup: Bool) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        func check(_ rc: Int32, _ call: String) throws(SystemError) {
            if rc != 0 { throw SystemError(call: call, path: path, errno: rc) }
        }
        for action in files {
            switch action {
            case .open(let fd, let file, let flags):
                try check(posix_spawn_file_actions_addopen(&actions, fd, file, flags, 0), "posix_spawn_file_actions_addopen")
            case .duplicate(let fd, let target):
                try check(posix_spawn_file_actions_adddup2(&actions, fd, target), "posix_spawn_file_actions_adddup2")
            }
        }
        let rc = cgw_spawn_addclosefrom(&actions, first)
        if rc == ENOSYS {
            try addCloseActions(&actions, from: first)
        } else {
            try check(rc, "posix_spawn_file_actions_addclosefrom_np")
        }
        // The parent may ignore SIGPIPE or block signals in its threads.
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        try check(posix_spawnattr_setsigmask(&attributes, &none), "posix_spawnattr_setsigmask")
        try check(posix_spawnattr_setsigdefault(&attributes, &all), "posix_spawnattr_setsigdefault")
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
            flags |= POSIX_SPAWN_SETPGROUP
        }
        try check(posix_spawnattr_setflags(&attributes, Int16(flags)), "posix_spawnattr_setflags")
        var pid: pid_t = 0
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv = environment.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        try check(posix_spawn(&pid, path, &actions, &attributes, &cArgv, &cEnv), "posix_spawn")
        return pid
    }

    /// glibc before 2.34: one close action per descriptor from `first` up in
    /// /proc/self/fd (close actions on fds closed by then, as the listing's
    /// own, are ignored).
    private static func addCloseActions(_ actions: inout posix_spawn_file_actions_t, from first: Int32) throws(SystemError) {
        for name in try Directories.names("/proc/self/fd") {
            guard let fd = Int32(name), fd >= first else { continue }
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}
