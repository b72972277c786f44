#if canImport(Glibc)
import Glibc
#endif
import CGWardenSandbox

/// A system call the helper may make, and why it needs it.
public struct SyscallPermission: Sendable, Hashable {
    public let name: String
    public let reason: String
    /// Allowed only when one of these sets of argument conditions holds
    /// (each set is one rule; empty: always).
    public let alternatives: [[SeccompFilter.ArgumentCondition]]

    init(_ name: String, _ reason: String, when alternatives: [[SeccompFilter.ArgumentCondition]] = []) {
        self.name = name
        self.reason = reason
        self.alternatives = alternatives
    }

    /// `kill(pid, SIGKILL)` with 0 < pid < 2^31 only: never -1 (every
    /// process), 0 or a negative pid (a process group). libseccomp compares
    /// 64-bit values and takes one comparison per argument in a rule, and
    /// glibc sign-extends the pid: so one rule per bit that may be the
    /// pid's lowest set bit, each with the upper 33 bits clear.
    static let positivePIDWithSIGKILL: [[SeccompFilter.ArgumentCondition]] = (0..<31).map { bit in
        let low = UInt64(1) << UInt64(bit)
        let below = low - 1
        // Bits above 30 clear, this bit set, the bits below it clear: every
        // positive pid matches exactly one rule.
        return [.argument(0, masked: 0xFFFF_FFFF_8000_0000 | low | below, equals: low),
                .argument(1, equals: UInt64(SIGKILL))]
    }
}

/// The kill helper's seccomp allow-list: everything it calls after its
/// filter is installed, for x86_64, glibc 2.36, Swift 6.3.1, measured with
/// strace on kernels 6.1 (the test VM) and 6.18 (see Docs/security.md).
/// Anything else kills the helper (SIGSYS).
///
/// It holds because the helper stays single-threaded after the filter (no
/// Foundation, Dispatch or Swift Concurrency), never sleeps but in `poll`,
/// reads control files with `pread` on descriptors it opened, and does
/// everything that needs other calls (opening its root, reading
/// /proc/self/cgroup, seeding the hasher) before the filter.
/// Deliberately absent: `read` (pread64 instead), `fstat` (glibc implements
/// it with newfstatat), `lseek` (a fresh descriptor to list a directory),
/// `getrandom` (the hasher is seeded before), `rt_sig*` (no handlers),
/// `execve`, `socket`, `connect`, `ptrace`, every `set*id`.
public enum HelperAllowList {
    public static let permissions: [SyscallPermission] = [
        // The channel.
        .init("recvfrom", "recv(2) of a request on the SOCK_SEQPACKET channel"),
        .init("sendto", "send(2) of a reply, with MSG_NOSIGNAL"),
        .init("sendmsg", "a reply that carries an armed PSI trigger's descriptor (SCM_RIGHTS)"),
        // Memory: every Swift allocation.
        .init("brk", "malloc: growing and trimming the main heap"),
        .init("mmap", "malloc: blocks above the mmap threshold (128 KiB+: a big cgroup.procs)"),
        .init("munmap", "free of such blocks"),
        // Resolving a request beneath the root.
        .init("openat2", "openBeneath: RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS|NO_XDEV"),
        .init("openat", "control files and child groups relative to a group's descriptor; the component walk where openat2 is missing"),
        .init("statx", "the component walk: type and mount ID of each component (EXDEV, ELOOP)"),
        .init("newfstatat", "fstat(3): the inode (cgroup id) and owner of an opened group; the walk's symlink check"),
        .init("close", "closing every descriptor it opened"),
        // Acting on the group.
        .init("pread64", "reading cgroup.events, cgroup.procs, memory.current at offset 0"),
        .init("write", "writing cgroup.kill and cgroup.freeze; the Swift runtime's one-line fatal error on stderr"),
        .init("poll", "waiting for POLLPRI on cgroup.events (populated 0, frozen 1)"),
        .init("getdents64", "listing child groups: protected groups below a target; the fallback's pids of a whole subtree"),
        .init("kill", "the fallback: SIGKILL each pid of cgroup.procs (only signal 9, only to a pid > 0)",
              when: SyscallPermission.positivePIDWithSIGKILL),
        .init("fgetxattr", "the attributes request: user.oomd_* and trusted.oomd_* of a group"),
        .init("pidfd_open", "a handle on each process of a group before cgroup.kill, for process_mrelease"),
        .init("process_mrelease", "reaping a killed process's memory before its exit completes (Linux 5.15+)"),
        // Time and the runtime.
        .init("clock_gettime", "deadlines; a real system call where the clocksource has no vDSO (hpet, as in the QEMU VM)"),
        .init("restart_syscall", "the kernel resuming an interrupted poll after SIGSTOP/SIGCONT"),
        .init("futex", "pthread_once in glibc's backtrace() on the crash path: a Swift trap then ends as SIGILL, not SIGSYS"),
        .init("exit_group", "exit(3) when the other end closes the channel"),
    ]

    /// The filter: `permissions` allowed, every other call (and every other
    /// architecture) kills the process.
    public static func filter(defaultAction: SeccompFilter.Action = .killProcess) throws(SeccompError) -> SeccompFilter {
        var f = SeccompFilter(defaultAction: defaultAction)
        for p in permissions {
            if p.alternatives.isEmpty {
                try f.add(.allow, for: p.name, where: [])
            }
            for conditions in p.alternatives {
                try f.add(.allow, for: p.name, where: conditions)
            }
        }
        return f
    }
}
