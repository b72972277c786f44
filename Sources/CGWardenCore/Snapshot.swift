/// Immutable snapshots: what the walker read, what the policy decides on,
/// what `status` prints and what `record` writes. Values only, no I/O.

/// A point in time, from the injected clock.
public struct Timestamp: Equatable, Comparable, Sendable {
    /// CLOCK_MONOTONIC, nanoseconds: durations and rates are measured on this.
    public var monotonicNanos: UInt64
    /// CLOCK_REALTIME, nanoseconds since the epoch: only for humans and records.
    public var wallNanos: UInt64

    public init(monotonicNanos: UInt64, wallNanos: UInt64) {
        self.monotonicNanos = monotonicNanos
        self.wallNanos = wallNanos
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.monotonicNanos < b.monotonicNanos }
}

/// What to read for each cgroup: a walk reads only what its caller asks for.
public struct SnapshotFields: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `memory.current`
    public static let usage = SnapshotFields(rawValue: 1 << 0)
    /// `memory.max`, `memory.high`, `memory.low`, `memory.min`
    public static let limits = SnapshotFields(rawValue: 1 << 1)
    /// `memory.peak` (kernel 5.19+)
    public static let peak = SnapshotFields(rawValue: 1 << 2)
    /// `memory.swap.current`, `memory.swap.max` (absent without swap accounting)
    public static let swap = SnapshotFields(rawValue: 1 << 3)
    /// `memory.events`
    public static let events = SnapshotFields(rawValue: 1 << 4)
    /// `memory.events.local`
    public static let eventsLocal = SnapshotFields(rawValue: 1 << 5)
    /// `memory.pressure`
    public static let pressure = SnapshotFields(rawValue: 1 << 6)
    /// `memory.stat`
    public static let stat = SnapshotFields(rawValue: 1 << 7)
    /// `cgroup.events` (`populated`, `frozen`)
    public static let populated = SnapshotFields(rawValue: 1 << 8)
    /// the number of lines of `cgroup.procs`
    public static let procCount = SnapshotFields(rawValue: 1 << 9)
    /// the pids of `cgroup.procs`
    public static let procs = SnapshotFields(rawValue: 1 << 10)
    /// `cgroup.stat`
    public static let cgroupStat = SnapshotFields(rawValue: 1 << 11)
    /// The directory's owner and the oomd extended attributes (`CgroupAttributes`)
    public static let attributes = SnapshotFields(rawValue: 1 << 12)
    /// `memory.stat`, of which only what `MemoryState.unreclaimable` reads is
    /// kept (`MemoryState.statSummary`): `stat` when both are asked for.
    public static let statSummary = SnapshotFields(rawValue: 1 << 13)

    /// Everything `cgwarden status` shows.
    public static let status: SnapshotFields = [.usage, .limits, .peak, .swap, .events, .eventsLocal,
                                                .pressure, .populated, .procCount]
    /// Every field.
    public static let all: SnapshotFields = [.status, .stat, .procs, .cgroupStat, .attributes]
    /// What the policy reads: `status` plus `memory.stat` (reclaimable memory)
    /// and the preference attributes.
    public static let policy: SnapshotFields = [.status, .stat, .attributes]
    /// What the daemon reads: the policy's fields, with `memory.stat`
    /// reduced to its summary. The daemon holds two snapshots (the previous
    /// one for rates); the ~50 counters of every group's `memory.stat` were
    /// about 1.3 KB a group in each, 2.5 MiB of its heap at 1,000 groups,
    /// for the 3 it reads (Docs/performance.md).
    public static let daemon: SnapshotFields = [.status, .statSummary, .attributes]

    /// Fields that live in memory-controller files.
    public static let memoryFiles: SnapshotFields = [.usage, .limits, .peak, .swap, .events, .eventsLocal, .stat, .statSummary]
}

/// The memory-controller state of one cgroup. Present only where the memory
/// controller is enabled for the group (its parent's `cgroup.subtree_control`
/// has `memory`); fields not asked for are nil.
public struct MemoryState: Equatable, Sendable {
    public var current: UInt64?
    public var max: Limit?
    public var high: Limit?
    public var low: Limit?
    public var min: Limit?
    /// nil before kernel 5.19 or when not asked for.
    public var peak: UInt64?
    /// nil when swap accounting is off or when not asked for.
    public var swapCurrent: UInt64?
    public var swapMax: Limit?
    public var events: MemoryEvents?
    public var eventsLocal: MemoryEvents?
    public var stat: KeyedCounters?

    public init(current: UInt64? = nil, max: Limit? = nil, high: Limit? = nil, low: Limit? = nil,
                min: Limit? = nil, peak: UInt64? = nil, swapCurrent: UInt64? = nil, swapMax: Limit? = nil,
                events: MemoryEvents? = nil, eventsLocal: MemoryEvents? = nil, stat: KeyedCounters? = nil) {
        self.current = current
        self.max = max
        self.high = high
        self.low = low
        self.min = min
        self.peak = peak
        self.swapCurrent = swapCurrent
        self.swapMax = swapMax
        self.events = events
        self.eventsLocal = eventsLocal
        self.stat = stat
    }

    /// `memory.current` as a fraction of `memory.max` (0...), nil without a limit.
    public var fractionOfMax: Double? {
        guard let current, let limit = max?.bytes, limit > 0 else { return nil }
        return Double(current) / Double(limit)
    }

    /// Memory the kernel cannot simply drop: anon + shmem + kernel (not file
    /// cache), from `memory.stat`; nil when the stat was not read.
    ///
    /// The sum saturates at 2^64-1: each part is valid 64-bit text, their
    /// sum is not, and a group reporting that much is past any limit anyway.
    public var unreclaimable: UInt64? {
        // Keep `statSummary` in step: it keeps what this reads.
        guard let stat else { return nil }
        return MemoryState.unreclaimable(stat)
    }

    /// anon + shmem + kernel of a `memory.stat` (whole or its summary).
    public static func unreclaimable(_ stat: KeyedCounters) -> UInt64 {
        (stat["anon"] ?? 0).addingSaturated(stat["shmem"] ?? 0).addingSaturated(kernel(stat))
    }

    /// `memory.stat`'s kernel memory: `kernel` (5.18+) already includes
    /// kernel_stack, pagetables, slab...; older kernels only have the parts.
    public static func kernel(_ stat: KeyedCounters) -> UInt64 {
        kernel(kernel: stat["kernel"], kernelStack: stat["kernel_stack"], pagetables: stat["pagetables"],
               slabUnreclaimable: stat["slab_unreclaimable"])
    }

    /// `kernel` from the counters themselves (what `Parse` reads in place).
    static func kernel(kernel: UInt64?, kernelStack: UInt64?, pagetables: UInt64?, slabUnreclaimable: UInt64?) -> UInt64 {
        kernel ?? (kernelStack ?? 0).addingSaturated(pagetables ?? 0).addingSaturated(slabUnreclaimable ?? 0)
    }

    /// The part of a `memory.stat` that `unreclaimable` reads: `anon`,
    /// `shmem` and `kernel` (summed from its parts before 5.18, as there),
    /// three values under keys shared by every summary.
    public static func statSummary(_ stat: KeyedCounters) -> KeyedCounters {
        KeyedCounters(keys: summaryKeys, values: [stat["anon"] ?? 0, stat["shmem"] ?? 0, kernel(stat)])
    }

    static let summaryKeys = ["anon", "shmem", "kernel"]
}

/// One cgroup as read at one moment.
public struct CgroupSnapshot: Equatable, Sendable {
    /// Path below the walked root: `/` for the root, `/tenants.slice/a.slice` below it.
    public var path: CgroupPath
    /// The cgroup id: the inode number of its directory. Unlike the path, it
    /// is never reused while the kernel runs, so it identifies this group.
    public var id: UInt64
    /// nil when the memory controller is not enabled for this group
    /// (and for the root, which has no `memory.current` or limits).
    public var memory: MemoryState?
    public var pressure: Pressure?
    public var events: CgroupEvents?
    /// Number of processes (`cgroup.procs` lines) when asked for.
    public var nrProcs: Int?
    /// The pids themselves when asked for.
    public var procs: [Int32]?
    /// `cgroup.stat` when asked for.
    public var cgroupStat: KeyedCounters?
    /// Owner and oomd attributes when asked for.
    public var attributes: CgroupAttributes?

    public init(path: CgroupPath, id: UInt64, memory: MemoryState? = nil, pressure: Pressure? = nil,
                events: CgroupEvents? = nil, nrProcs: Int? = nil, procs: [Int32]? = nil,
                cgroupStat: KeyedCounters? = nil, attributes: CgroupAttributes? = nil) {
        self.path = path
        self.id = id
        self.memory = memory
        self.pressure = pressure
        self.events = events
        self.nrProcs = nrProcs
        self.procs = procs
        self.cgroupStat = cgroupStat
        self.attributes = attributes
    }

    /// What the path says this group is: a systemd unit, a Kubernetes pod...
    public var identity: GroupIdentity { GroupIdentity(path: path) }
}

/// Node-wide figures from /proc.
public struct SystemSnapshot: Equatable, Sendable {
    public var meminfo: MemInfo
    /// `/proc/pressure/memory`; nil on kernels without PSI (or `psi=0`).
    public var pressure: Pressure?
    /// `oom_kill` of `/proc/vmstat`: OOM kills on the node since boot.
    public var oomKill: UInt64?

    public init(meminfo: MemInfo, pressure: Pressure?, oomKill: UInt64?) {
        self.meminfo = meminfo
        self.pressure = pressure
        self.oomKill = oomKill
    }
}

/// Everything read at one moment: the input of every decision.
public struct Snapshot: Equatable, Sendable {
    /// The directory that was walked (`/sys/fs/cgroup` by default).
    public var root: String
    public var time: Timestamp
    public var system: SystemSnapshot
    /// Pre-order: a parent before its children, siblings by name.
    public var cgroups: [CgroupSnapshot]
    /// The node's pods by UID, named from the kubelet's log directories
    /// (empty where none were read: pods are then shown by UID).
    public var pods: PodNames

    public init(root: String, time: Timestamp, system: SystemSnapshot, cgroups: [CgroupSnapshot], pods: PodNames = .empty) {
        self.root = root
        self.time = time
        self.system = system
        self.cgroups = cgroups
        self.pods = pods
    }
}
