/// A kernel memory limit: `memory.max`, `memory.high`, `memory.swap.max`,
/// `memory.low`, `memory.min` all read either a byte count or the word `max`.
///
/// `max` is a distinct case, not a sentinel number: "no limit" must never be
/// compared as if it were a very large size by accident.
public enum Limit: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The file reads `max`: no limit (for `low`/`min`: protect everything).
    case max
    case bytes(UInt64)

    /// The limit in bytes, or nil for `max`.
    public var bytes: UInt64? {
        if case .bytes(let b) = self { return b }
        return nil
    }

    public var isMax: Bool { self == .max }

    public var description: String {
        switch self {
        case .max: return "max"
        case .bytes(let b): return String(b)
        }
    }
}

/// Counters of a flat keyed file (`memory.events`, `memory.stat`, `cgroup.stat`,
/// `/proc/vmstat`, `/proc/meminfo`), in the kernel's order.
///
/// Keys are kept as the kernel wrote them, including ones a newer kernel adds
/// (e.g. `sock_throttled` in `memory.events`): nothing is dropped.
public struct KeyedCounters: Equatable, Sendable, Sequence {
    public private(set) var keys: [String] = []
    public private(set) var values: [UInt64] = []

    public init() {}

    init(keys: [String], values: [UInt64]) {
        self.keys = keys
        self.values = values
    }

    public init(_ pairs: KeyValuePairs<String, UInt64>) {
        for (k, v) in pairs { append(k, v) }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> UInt64? {
        // Linear: these files hold 5 to 60 keys, and a hash table per file
        // would cost more to build than the lookups it saves.
        for i in keys.indices where keys[i] == key { return values[i] }
        return nil
    }

    public func contains(_ key: String) -> Bool { self[key] != nil }

    mutating func reserveCapacity(_ n: Int) {
        keys.reserveCapacity(n)
        values.reserveCapacity(n)
    }

    mutating func append(_ key: String, _ value: UInt64) {
        keys.append(key)
        values.append(value)
    }

    public func makeIterator() -> Zip2Sequence<[String], [UInt64]>.Iterator {
        zip(keys, values).makeIterator()
    }
}

/// The counters of `memory.events` / `memory.events.local`.
///
/// ```
/// low 0
/// high 1204
/// max 61
/// oom 1
/// oom_kill 1
/// oom_group_kill 0
/// ```
/// `memory.events` is hierarchical (a child's events count in its ancestors,
/// unless cgroup2 is mounted with `memory_localevents`); `.local` is this
/// group's own. The kernel forgets both when the group is removed.
public struct MemoryEvents: Equatable, Sendable {
    /// Every key the kernel wrote, in order.
    public var all: KeyedCounters {
        get {
            if let other { return other }
            let v = [low, high, max, oom, oomKill, oomGroupKill, sockThrottled]
            return KeyedCounters(keys: KnownKeys.prefixes[Int(count)], values: Array(v[0..<Int(count)]))
        }
        set { self = MemoryEvents(newValue) }
    }

    /// Times usage went below the effective `memory.low` protection and was reclaimed anyway.
    public private(set) var low: UInt64 = 0
    /// Times usage exceeded `memory.high` and the group was throttled into reclaim.
    public private(set) var high: UInt64 = 0
    /// Times usage hit `memory.max` and direct reclaim ran.
    public private(set) var max: UInt64 = 0
    /// Times the group hit its limit and reclaim failed (an OOM situation).
    public private(set) var oom: UInt64 = 0
    /// Processes the kernel OOM killer killed inside the group.
    public private(set) var oomKill: UInt64 = 0
    /// Times the whole group was OOM-killed because of `memory.oom.group` (kernel 5.17+).
    public private(set) var oomGroupKill: UInt64 = 0
    private var sockThrottled: UInt64 = 0
    /// How many of the kernel's keys, in its order (`KnownKeys.prefixes`),
    /// the fields hold: 5 to `standardKeys`.
    private var count: UInt8 = 5
    /// The counters as read when they are not the kernel's keys in its order
    /// (another kernel, a hand-made file); nil in the common case, held in
    /// the fields alone: no array for each of the two files of every group
    /// at every snapshot.
    private var other: KeyedCounters?

    /// low, high, max, oom, oom_kill, oom_group_kill, sock_throttled.
    static let standardKeys = 7

    public init(_ all: KeyedCounters) {
        let n = all.count
        if n >= 5 && n <= MemoryEvents.standardKeys && all.keys == KnownKeys.prefixes[n] {
            self.init(standardOrder: all)
        } else {
            self.init(other: all)
        }
    }

    /// Counters whose keys are `KnownKeys.prefixes[n]`, n >= 5: low, high,
    /// max, oom, oom_kill[, oom_group_kill...], read by position.
    init(standardOrder all: KeyedCounters) {
        guard all.count <= MemoryEvents.standardKeys else {
            self.init(other: all)
            return
        }
        let v = all.values
        self.init(low: v[0], high: v[1], max: v[2], oom: v[3], oomKill: v[4],
                  oomGroupKill: v.count > 5 ? v[5] : nil, sockThrottled: v.count > 6 ? v[6] : nil)
    }

    private init(other all: KeyedCounters) {
        other = all
        low = all["low"] ?? 0
        high = all["high"] ?? 0
        max = all["max"] ?? 0
        oom = all["oom"] ?? 0
        oomKill = all["oom_kill"] ?? 0
        oomGroupKill = all["oom_group_kill"] ?? 0
    }

    /// The kernel's keys in its order: the five every kernel since 4.13
    /// writes, then `oom_group_kill` (5.17+) and `sock_throttled` where given
    /// (a later key only after the earlier one).
    init(low: UInt64, high: UInt64, max: UInt64, oom: UInt64, oomKill: UInt64,
         oomGroupKill: UInt64? = nil, sockThrottled: UInt64? = nil) {
        self.low = low
        self.high = high
        self.max = max
        self.oom = oom
        self.oomKill = oomKill
        self.oomGroupKill = oomGroupKill ?? 0
        self.sockThrottled = sockThrottled ?? 0
        count = oomGroupKill == nil ? 5 : (sockThrottled == nil ? 6 : 7)
    }

    public static func == (a: MemoryEvents, b: MemoryEvents) -> Bool {
        if a.other == nil && b.other == nil {
            return a.count == b.count && a.low == b.low && a.high == b.high && a.max == b.max && a.oom == b.oom
                && a.oomKill == b.oomKill && a.oomGroupKill == b.oomGroupKill && a.sockThrottled == b.sockThrottled
        }
        return a.all == b.all
    }
}

/// One line of a PSI file: share of wall time in which tasks stalled on memory.
public struct PressureLine: Equatable, Sendable {
    /// Percent of the last 10 s, 60 s, 300 s (0 to 100).
    public var avg10: Double
    public var avg60: Double
    public var avg300: Double
    /// Total stall time in microseconds since boot (or group creation).
    public var total: UInt64

    public init(avg10: Double = 0, avg60: Double = 0, avg300: Double = 0, total: UInt64 = 0) {
        self.avg10 = avg10
        self.avg60 = avg60
        self.avg300 = avg300
        self.total = total
    }
}

/// A PSI file (`memory.pressure`, `/proc/pressure/memory`).
/// `some`: at least one task stalled; `full`: all non-idle tasks stalled.
public struct Pressure: Equatable, Sendable {
    public var some: PressureLine
    /// Absent only in files of older kernels that have no `full` line.
    public var full: PressureLine?

    public init(some: PressureLine, full: PressureLine?) {
        self.some = some
        self.full = full
    }
}

/// `cgroup.events`: `populated` is 1 while any process lives in the subtree.
public struct CgroupEvents: Equatable, Sendable {
    public var populated: Bool
    /// nil where the kernel has no freezer line (before 5.2).
    public var frozen: Bool?

    public init(populated: Bool, frozen: Bool?) {
        self.populated = populated
        self.frozen = frozen
    }
}

/// The node-wide figures of `/proc/meminfo`, in bytes.
public struct MemInfo: Equatable, Sendable {
    public var memTotal: UInt64
    public var memAvailable: UInt64
    public var swapTotal: UInt64
    public var swapFree: UInt64
    /// Every line, converted to bytes where the kernel gave kB.
    public var all: KeyedCounters

    public init(memTotal: UInt64, memAvailable: UInt64, swapTotal: UInt64, swapFree: UInt64,
                all: KeyedCounters = KeyedCounters()) {
        self.memTotal = memTotal
        self.memAvailable = memAvailable
        self.swapTotal = swapTotal
        self.swapFree = swapFree
        self.all = all
    }
}
