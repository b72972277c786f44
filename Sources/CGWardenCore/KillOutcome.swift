/// How cgroup processes were killed.
public enum KillMethod: UInt8, Equatable, Sendable, CustomStringConvertible {
    /// One write of `1` to `cgroup.kill` (kernel 5.14+): the kernel kills the
    /// whole subtree, processes forked during the kill included.
    case cgroupKill = 1
    /// Freeze the group, SIGKILL every pid of `cgroup.procs` in the subtree,
    /// thaw, and again until empty or out of rounds.
    case freezeAndSignal = 2

    public var description: String {
        switch self {
        case .cgroupKill: return "cgroup.kill"
        case .freezeAndSignal: return "freeze+SIGKILL"
        }
    }
}

/// Why the helper did not use `cgroup.kill`.
public enum FallbackReason: UInt8, Equatable, Sendable, CustomStringConvertible {
    /// The request asked for the fallback (tests, benchmarks).
    case forced = 1
    /// No `cgroup.kill` file: a kernel before 5.14.
    case noCgroupKill = 2
    /// The write failed with EOPNOTSUPP: a threaded cgroup.
    case notSupported = 3

    public var description: String {
        switch self {
        case .forced: return "forced"
        case .noCgroupKill: return "no cgroup.kill (kernel before 5.14)"
        case .notSupported: return "cgroup.kill not supported here (threaded cgroup)"
        }
    }
}

/// What a kill did, as the helper measured it.
public struct KillReport: Equatable, Sendable {
    public var method: KillMethod
    /// Set when `method` is the fallback.
    public var fallbackReason: FallbackReason?
    /// Fallback rounds run (1 for `cgroup.kill`).
    public var rounds: UInt16
    /// Processes the fallback sent SIGKILL to (0 for `cgroup.kill`).
    public var signalled: UInt32
    /// Processes still listed in the subtree at the end (0 when emptied).
    public var remaining: UInt32
    /// From the first write to `populated 0` (or to giving up), nanoseconds.
    public var durationNanos: UInt64
    /// `memory.current` before and after; nil without the memory controller.
    public var memoryBefore: UInt64?
    public var memoryAfter: UInt64?
    /// Processes whose memory was given back before they finished exiting
    /// (`process_mrelease`, Linux 5.15+).
    public var released: UInt32

    public init(method: KillMethod, fallbackReason: FallbackReason? = nil, rounds: UInt16 = 1, signalled: UInt32 = 0,
                remaining: UInt32 = 0, durationNanos: UInt64 = 0, memoryBefore: UInt64? = nil, memoryAfter: UInt64? = nil,
                released: UInt32 = 0) {
        self.method = method
        self.fallbackReason = fallbackReason
        self.rounds = rounds
        self.signalled = signalled
        self.remaining = remaining
        self.durationNanos = durationNanos
        self.memoryBefore = memoryBefore
        self.memoryAfter = memoryAfter
        self.released = released
    }
}

/// What a dry run (`check`) found: every check passed, and this would be killed.
public struct CheckReport: Equatable, Sendable {
    /// Processes listed in `cgroup.procs` of the group and every group below it.
    public var processes: UInt32
    /// The group and the groups below it.
    public var groups: UInt32
    public var memoryCurrent: UInt64?

    public init(processes: UInt32, groups: UInt32, memoryCurrent: UInt64?) {
        self.processes = processes
        self.groups = groups
        self.memoryCurrent = memoryCurrent
    }
}

/// How a helper process ended.
public enum HelperTermination: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    /// 31 (SIGSYS): its seccomp filter killed it.
    case signaled(Int32)

    /// Decodes a `waitpid` status (WIFEXITED/WTERMSIG are C macros).
    public init(waitStatus s: Int32) {
        self = s & 0x7f == 0 ? .exited((s >> 8) & 0xff) : .signaled(s & 0x7f)
    }

    public var description: String {
        switch self {
        case .exited(let c): return "exited with status \(c)"
        case .signaled(31): return "killed by SIGSYS (a system call outside its seccomp allow-list)"
        case .signaled(let s): return "killed by signal \(s)"
        }
    }
}

/// Why a request was not carried out, beyond a refusal.
public enum HelperFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed in the helper (or while naming the group).
    case system(HelperStepFailure)
    /// The helper died with the request in flight; a new one was started.
    case helperDied(HelperTermination?)
    /// No reply in time; the helper was ended and a new one started.
    case timedOut(milliseconds: UInt64)
    /// No helper could be started.
    case unavailable(String)
    /// The helper answered with an error or something unreadable.
    case protocolError(String)

    public var description: String { describe { "errno \($0)" } }

    /// The text, with `errnoText` naming error numbers (strerror, at the edge).
    public func describe(_ errnoText: (Int32) -> String) -> String {
        switch self {
        case .system(let f): return "\(f.operation): \(errnoText(f.errno))"
        case .helperDied(let t?): return "the kill helper died (\(t)) with the request in flight"
        case .helperDied(nil): return "the kill helper died with the request in flight"
        case .timedOut(let ms): return "no reply from the kill helper within \(ms) ms"
        case .unavailable(let why): return "no kill helper: \(why)"
        case .protocolError(let why): return "kill helper protocol: \(why)"
        }
    }
}

/// The result of asking the helper to kill (or check) a group.
public enum KillOutcome: Equatable, Sendable {
    /// The subtree is empty (`populated 0`).
    case killed(KillReport)
    /// Still populated when the time or the fallback's rounds ran out.
    case incomplete(KillReport)
    /// Dry run: every check passed; this is what would be killed.
    case wouldKill(CheckReport)
    case refused(HelperRefusal)
    case failed(HelperFailure)
}
