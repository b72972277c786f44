#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem
import CShims

/// Process-wide steps a privileged helper takes before serving.
public enum ProcessHardening {
    /// No core dumps: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. The latter also
    /// holds when `core_pattern` is a pipe (systemd-coredump ignores
    /// RLIMIT_CORE), forbids ptrace attach by non-root and makes /proc/PID
    /// root-owned. A seccomp kill is SIGSYS, a core-dumping signal.
    public static func disableCoreDumps() throws(SystemError) {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) != 0 {
            throw SystemError(call: "setrlimit(RLIMIT_CORE)", path: "", errno: errno)
        }
        if cgw_set_dumpable(0) != 0 { throw SystemError(call: "prctl(PR_SET_DUMPABLE)", path: "", errno: errno) }
    }

    /// PR_SET_NO_NEW_PRIVS: no execve from here on grants privileges
    /// (setuid bits and file capabilities are ignored). Irreversible.
    public static func setNoNewPrivileges() throws(SystemError) {
        if cgw_set_no_new_privs() != 0 { throw SystemError(call: "prctl(PR_SET_NO_NEW_PRIVS)", path: "", errno: errno) }
    }

    public static var noNewPrivileges: Bool { cgw_get_no_new_privs() == 1 }
}
