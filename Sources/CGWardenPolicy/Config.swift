import CGWardenCore

/// Where something was written in the configuration.
public struct ConfigOrigin: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int = 1) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// The whole configuration: the main file and its drop-ins, merged.
public struct Config: Equatable, Sendable {
    public var daemon = DaemonSettings()
    /// The event history (`[events]`).
    public var events = EventSettings()
    /// Never killed, whatever a guard says.
    public var protect: [CgroupPattern] = []
    /// Honour `user.oomd_*` / `trusted.oomd_*` extended attributes (default true).
    public var honorAttributes = true
    /// In evaluation order: when several guards fire at once, the first acts.
    public var guards: [Guard] = []
    /// The files merged, in order.
    public var files: [String] = []

    public init() {}
}

public struct DaemonSettings: Equatable, Sendable {
    /// Snapshot interval. 1 s is what oomd's shipped unit and systemd-oomd's
    /// pressure polling use: PSI avg10 moves little faster than that.
    public var interval = Duration.seconds(1)
    /// The unprivileged side drops to this user and group when started as root.
    public var user = "cgwarden"
    public var group = "cgwarden"
    /// Allow `user`/`group` to be ones other services share (`nobody`,
    /// `nogroup`): any process of that user could signal or trace the
    /// unprivileged side. Off: a dedicated user is required.
    public var allowSharedUser = false
    /// Go through the whole kill path but stop before the final write.
    public var dryRun = false

    public init() {}
}

/// The event history's settings (`[events]`).
public struct EventSettings: Equatable, Sendable {
    /// The flight recorder keeps this much of the last snapshots, written
    /// beside each kill (`0s`: none). Five minutes cover the longest
    /// sustained trigger and rate window a guard usually has, and the
    /// growth before a kill.
    public var flightRecorder = Duration.seconds(300)
    /// And at most this much memory: at 1,000 groups sampled each second,
    /// about 2 MiB holds the five minutes (Docs/recording.md); 16 MiB holds
    /// them for 8,000 groups, and bounds what a node of many more costs
    /// (the window then shrinks).
    public var flightRecorderMaxSize: UInt64 = 16 << 20
    /// The guard locks its memory (mlockall, RLIMIT_MEMLOCK 256 MiB): the
    /// recorder may take a quarter of it.
    public static let maximumFlightRecorderSize: UInt64 = 64 << 20

    public init() {}
}

/// A rule: which groups it watches, when it fires, and whom it may kill.
public struct Guard: Equatable, Sendable {
    public var name: String
    public var origin: ConfigOrigin
    /// Groups the triggers are evaluated on.
    public var match: [CgroupPattern]
    public var triggers: [Trigger]
    public var combine: Combine = .any
    public var candidates: CandidateScope = .self
    public var rank: RankKey = .usage
    /// Groups using less than this are not worth a kill (it would free too little).
    public var minKillSize: UInt64 = 0
    /// After this guard acts, it waits this long before acting again: usage
    /// and PSI averages lag behind a kill (avg10 needs ~10 s to decay), and
    /// acting on stale figures kills a second group for nothing. 15 s is what
    /// systemd-oomd and oomd use.
    public var postActionDelay = Guard.defaultPostActionDelay
    public var prefer: [CgroupPattern] = []
    public var avoid: [CgroupPattern] = []
    /// Kubernetes: BestEffort pods before Burstable before Guaranteed, as kubelet evicts.
    public var qosOrder = false
    /// `observe`: report whom it would kill, and when; kill nothing.
    public var mode: GuardMode = .act
    /// The most processes one kill may take (the victim's whole subtree): a
    /// bigger candidate is replaced by its own children.
    public var maxVictimProcesses: UInt64?
    /// The largest share of the node's memory one kill may take.
    public var maxVictimShare: Percent?

    public static let defaultPostActionDelay = Duration.seconds(15)

    public init(name: String, origin: ConfigOrigin, match: [CgroupPattern], triggers: [Trigger]) {
        self.name = name
        self.origin = origin
        self.match = match
        self.triggers = triggers
    }

    public func watches(_ path: CgroupPath) -> Bool { match.contains { $0.matches(path) } }
}

public enum Combine: String, Sendable, CaseIterable { case any, all }

/// Whether a guard kills, or only says whom it would kill.
public enum GuardMode: String, Sendable, CaseIterable {
    case act
    /// A new rule tried on a live node without risk.
    case observe
}

/// Whom a fired guard may kill, relative to the group that fired.
public enum CandidateScope: String, Sendable, CaseIterable {
    /// The matched group itself (with its whole subtree).
    case `self`
    /// Its direct children.
    case children
    /// Its descendants that have no child groups and have processes.
    case leaves
    /// Its descendants that are Kubernetes pods (kubelet's unit of eviction).
    case pods
}

public enum RankKey: String, Sendable, CaseIterable {
    /// Largest `memory.current`.
    case usage
    /// Largest `memory.current` minus the effective `memory.low`/`memory.min` protection.
    case usageAboveProtection = "usage_above_protection"
    /// Fastest growth of `memory.current` (a time-weighted average over recent snapshots).
    case growth
    /// Highest PSI `some` avg10 of the group.
    case pressure
    /// Largest `memory.swap.current`.
    case swap
}

public struct Trigger: Equatable, Sendable {
    public var kind: TriggerKind
    /// The condition must hold in every snapshot for this long (0: at once).
    public var sustain: Duration
    public var origin: ConfigOrigin

    public init(kind: TriggerKind, sustain: Duration = .zero, origin: ConfigOrigin) {
        self.kind = kind
        self.sustain = sustain
        self.origin = origin
    }
}

public enum LimitFile: String, Sendable, CaseIterable { case max, high }
public enum PressureLevel: String, Sendable, CaseIterable { case some, full }
public enum PressureWindow: String, Sendable, CaseIterable {
    case avg10 = "10s", avg60 = "60s"
}
public enum UsageCount: String, Sendable, CaseIterable {
    /// `memory.current`.
    case all
    /// anon + shmem + kernel from `memory.stat`: not the file cache the kernel can drop.
    case unreclaimable
}
public enum EventCounter: String, Sendable, CaseIterable { case max, high }

/// A size or a share of a total.
public enum Amount: Equatable, Sendable, CustomStringConvertible {
    case bytes(UInt64)
    case percent(Percent)

    /// The size, or the share of `total`, held to 0...UInt64.max (Double(UInt64.max) is 2^64,
    /// one past the largest UInt64, so 100% of it must not be converted as is).
    public func bytes(of total: UInt64) -> UInt64 {
        switch self {
        case .bytes(let b): return b
        // Saturates: 100% of a total near 2^64 is 2^64 as a Double.
        case .percent(let p): return UInt64(saturating: Double(total) * p.fraction)
        }
    }

    public var description: String {
        switch self {
        case .bytes(let b): return Units.size(b)
        case .percent(let p): return p.description
        }
    }
}

public enum TriggerKind: Equatable, Sendable {
    /// Usage at or above a share of the group's own `memory.max` or `memory.high`.
    case usageOfLimit(Percent, limit: LimitFile, count: UsageCount)
    /// Usage at or above a size (a soft quota, below or without a kernel limit).
    case usageAbove(UInt64, count: UsageCount)
    /// The group's PSI at or above a percentage.
    case pressure(PressureLevel, PressureWindow, Percent)
    /// MemAvailable at or below a size or share of MemTotal.
    case nodeAvailableBelow(Amount)
    /// SwapFree at or below a size or share of SwapTotal (never on a node without swap).
    case nodeSwapFreeBelow(Amount)
    /// `/proc/pressure/memory` at or above a percentage.
    case nodePressure(PressureLevel, PressureWindow, Percent)
    /// The `max` or `high` counter of `memory.events` rising at least this fast (per second).
    case eventRate(EventCounter, perSecond: Double)
    /// `oom_kill` of `memory.events` rose: the kernel killed a task inside.
    case oomKill

    /// Node triggers are the same for every group a guard watches.
    public var isNodeWide: Bool {
        switch self {
        case .nodeAvailableBelow, .nodeSwapFreeBelow, .nodePressure: return true
        default: return false
        }
    }
}

extension Trigger: CustomStringConvertible {
    public var description: String {
        let t = self
        let body: String
        switch t.kind {
        case .usageOfLimit(let p, let limit, let count):
            body = "\(count == .unreclaimable ? "unreclaimable " : "")usage >= \(p) of memory.\(limit.rawValue)"
        case .usageAbove(let s, let count):
            body = "\(count == .unreclaimable ? "unreclaimable " : "")usage >= \(Units.size(s))"
        case .pressure(let level, let window, let p):
            body = "PSI \(level.rawValue) avg\(window == .avg10 ? 10 : 60) >= \(p)"
        case .nodeAvailableBelow(let a):
            body = "node MemAvailable <= \(a)"
        case .nodeSwapFreeBelow(let a):
            body = "node SwapFree <= \(a)"
        case .nodePressure(let level, let window, let p):
            body = "node PSI \(level.rawValue) avg\(window == .avg10 ? 10 : 60) >= \(p)"
        case .eventRate(let c, let r):
            body = "memory.events \(c.rawValue) rising >= \(Quantities.trimmed(r))/s"
        case .oomKill:
            body = "kernel OOM kill inside (memory.events oom_kill rose)"
        }
        return t.sustain == .zero ? body : "\(body) for \(t.sustain.text)"
    }
}
