#if canImport(Glibc)
import Glibc
#endif
import CShims

/// What a memory guard does to itself to survive the pressure it guards
/// against. Each is best effort: the caller reports what failed.
public enum ProcessLimits {
    /// `oom_score_adj` of this process (and of what it spawns later): -1000
    /// exempts it from the kernel's OOM killer. Needs CAP_SYS_RESOURCE to lower it.
    public static func setOOMScoreAdjust(_ value: Int) throws(SystemError) {
        let path = "/proc/self/oom_score_adj"
        let fd = try Files.open(path, O_WRONLY | O_CLOEXEC)
        defer { Files.close(fd) }
        try Files.write(fd, Array(String(value).utf8), path: path)
    }

    /// RLIMIT_CORE 0: no core file (a crash of a privileged helper leaves no
    /// copy of its memory).
    public static func forbidCoreFiles() throws(SystemError) {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = try syscall("setrlimit(RLIMIT_CORE)") { setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) }
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit: the sampler keeps a
    /// directory descriptor per group (10,000 groups on a big node). The
    /// soft limit it ends at.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var r = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &r) == 0 else { return 0 }
        r.rlim_cur = r.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &r)
        _ = getrlimit(RLIMIT_NOFILE_VALUE, &r)
        return UInt64(r.rlim_cur)
    }

    /// Locks every page this process touches, now and later, in memory
    /// (mlockall MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT: pages are locked
    /// when first used, so the mapped but never run parts of a 30 MB binary
    /// cost nothing), with RLIMIT_MEMLOCK raised to `limit` first (root
    /// only): reclaim then never makes the guard wait for its own pages.
    /// The limit also bounds the guard's heap: past it, allocation fails.
    ///
    /// When the limit cannot be raised (no CAP_SYS_RESOURCE, as in some
    /// containers), nothing is locked: with MCL_FUTURE under the default
    /// 8 MiB limit, the first allocation past it would fail once privileges
    /// are dropped, and the guard would die of it.
    public static func lockMemory(limit: UInt64) throws(SystemError) {
        var r = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
        _ = try syscall("setrlimit RLIMIT_MEMLOCK") { setrlimit(RLIMIT_MEMLOCK_VALUE, &r) }
        _ = try syscall("mlockall") { cgw_mlockall_onfault() }
    }

    /// One malloc arena for every thread (mallopt M_ARENA_MAX 1), set before
    /// any thread exists. glibc gives a thread that finds the main arena
    /// busy an arena of its own: each reserves 64 MiB of address space
    /// (HEAP_MAX_SIZE), which mlockall(MCL_FUTURE) counts against
    /// RLIMIT_MEMLOCK whether used or not, and keeps free pages of its own.
    /// The daemon's few threads allocate little, and rarely at once.
    @discardableResult
    public static func singleMallocArena() -> Bool { cgw_single_malloc_arena() == 0 }

    /// No transparent huge pages for this process (prctl PR_SET_THP_DISABLE,
    /// inherited by the helper it spawns). With THP `always` (Debian's
    /// default), the first touch of a 2 MiB-aligned stretch of a large
    /// anonymous mapping (a thread's stack, a malloc arena) takes a whole
    /// huge page, and mlockall keeps it: 2 MiB for a few KiB used, on some
    /// starts and not others as the address layout falls (seen at 1,000
    /// groups: [anon] 2.6 MiB against 0.6, Docs/performance.md).
    /// (`false`: on again, for tests.)
    public static func disableTransparentHugePages(_ disable: Bool = true) throws(SystemError) {
        _ = try syscall("prctl(PR_SET_THP_DISABLE)") { cgw_set_thp_disable(disable ? 1 : 0) }
    }

    /// Whether they are off (prctl PR_GET_THP_DISABLE).
    public static var transparentHugePagesDisabled: Bool { cgw_thp_disabled() == 1 }

    static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    // RLIMIT_MEMLOCK is a macro Swift does not import: 8 on Linux (asm-generic/resource.h).
    static var RLIMIT_MEMLOCK_VALUE: __rlimit_resource_t { __rlimit_resource_t(8) }
}
