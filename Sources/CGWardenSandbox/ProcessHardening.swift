#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// Process-wide steps a privileged helper takes before serving.
public enum ProcessHardening {
    /// No core dumps: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. The latter also
    /// holds when `core_pattern` is a pipe (systemd-coredump ignores
    /// RLIMIT_CORE), forbids ptrace attach by non-root and makes /proc/PID
    /// root-owned. A seccomp kill is SIGSYS, a core-dumping signal.
    public static func disableCoreDumps() throws(SystemError) {
        try ProcessLimits.forbidCoreFiles()
        try ProcessControl.setDumpable(false)
    }

    /// PR_SET_NO_NEW_PRIVS: no execve from here on grants privileges
    /// (setuid bits and file capabilities are ignored). Irreversible.
    public static func setNoNewPrivileges() throws(SystemError) {
        try ProcessControl.setNoNewPrivileges()
    }

    public static var noNewPrivileges: Bool { ProcessControl.noNewPrivileges }
}
