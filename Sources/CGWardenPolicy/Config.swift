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
    /// Commands run after events (`[[hook]]`).
    public var hooks: [Hook] = []
    /// The Prometheus endpoint of `cgwarden run` (`[metrics]`; off unless `listen` is set).
    public var metrics = MetricsSettings()
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
    /// Hooks running at once, at most: past it, a hook is skipped (and that
    /// is an event), so that a slow hook never piles up processes.
    public var maximumRunningHooks = 4

    public init() {}
}

/// `[metrics]`: where `cgwarden run` serves `/metrics` and `/healthz`.
public struct MetricsSettings: Equatable, Sendable {
    /// nil: no endpoint (the default).
    public var listen: ListenAddress?
    /// Watched groups exported at most; past it, those using the most memory.
    /// Each exported group is at most `MetricsSettings.seriesPerGroup` series:
    /// 500 groups are 7,500 series, about 1 MB of text per scrape.
    public var maximumGroups = 500
    /// The most `max_groups` may be: 10,000 groups would be 150,000 series,
    /// past what one Prometheus target should carry (and 20 MB a scrape).
    public static let maximumGroupsLimit = 10_000
    /// Series one exported group makes at most (Docs/metrics.md counts them).
    public static let seriesPerGroup = 15

    public init() {}
}

/// An address to listen on: an IPv4 or IPv6 address and a port, or the path of a Unix socket.
public enum ListenAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    case inet4([UInt8], port: UInt16)
    case inet6([UInt8], port: UInt16)
    case unix(String)

    /// The longest Unix socket path (`sun_path` is 108 bytes with its NUL).
    public static let maximumUnixPathBytes = 107

    public var description: String {
        switch self {
        case .inet4(let a, let port): return a.map(String.init).joined(separator: ".") + ":\(port)"
        case .inet6(let a, let port): return "[\(ListenAddress.ipv6Text(a))]:\(port)"
        case .unix(let path): return path
        }
    }

    /// `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`, `[::]:9464` or an absolute path
    /// (`/run/cgwarden/metrics.sock`); the reason otherwise. Names are not resolved.
    public static func parse(_ text: String) -> Result<ListenAddress, ListenAddressProblem> {
        if text.hasPrefix("/") {
            let bytes = Array(text.utf8)
            if bytes.contains(0) { return .failure(.init("a socket path cannot hold a NUL")) }
            if bytes.count > maximumUnixPathBytes {
                return .failure(.init("a Unix socket path is at most \(maximumUnixPathBytes) bytes (sun_path), this is \(bytes.count)"))
            }
            if bytes.last == UInt8(ascii: "/") { return .failure(.init("'\(text)' names a directory, not a socket")) }
            return .success(.unix(text))
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.init("'\(text)': an IPv6 address ends with ']' before its port")) }
            let inside = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.init("'\(text)' needs a port: [\(inside)]:9464")) }
            guard let address = parseIPv6(inside) else { return .failure(.init("'\(inside)' is not an IPv6 address")) }
            return port(rest.dropFirst()).map { .inet6(address, port: $0) }
        }
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(.init("'\(text)' needs an address and a port (127.0.0.1:9464, [::1]:9464) or an absolute socket path"))
        }
        let host = text[..<colon]
        if host.contains(":") { return .failure(.init("'\(text)': write an IPv6 address in brackets, e.g. [::1]:9464")) }
        guard let address = parseIPv4(host) else {
            return .failure(.init("'\(host)' is not an IPv4 address (names are not resolved: write 127.0.0.1 or [::1])"))
        }
        return port(text[text.index(after: colon)...]).map { .inet4(address, port: $0) }
    }

    static func port(_ text: Substring) -> Result<UInt16, ListenAddressProblem> {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text),
              n >= 1, n <= 65535 else {
            return .failure(.init("'\(text)' is not a port (1 to 65535)"))
        }
        return .success(UInt16(n))
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            // No leading zeros: 010 is octal to inet_aton, decimal to others.
            guard !p.isEmpty, p.count <= 3, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  p.count == 1 || p.first != "0", let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    /// RFC 4291 text: eight groups of 1-4 hex digits, one `::` for a run of
    /// zero groups, an IPv4 tail (`::ffff:127.0.0.1`). No zone (`%eth0`).
    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        var head: [UInt16] = [], tail: [UInt16] = []
        var sawDouble = false
        let halves = text.components("::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring, allowIPv4: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() {
                if allowIPv4, i == parts.count - 1, p.contains(".") {
                    guard let v4 = parseIPv4(p) else { return nil }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !p.isEmpty, p.count <= 4, let v = UInt16(p, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        if halves.count == 2 {
            sawDouble = true
            guard let h = groups(halves[0], allowIPv4: false), let t = groups(halves[1], allowIPv4: true) else { return nil }
            head = h
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let h = groups(halves[0], allowIPv4: true), h.count == 8 else { return nil }
            head = h
        }
        let all = head + [UInt16](repeating: 0, count: sawDouble ? 8 - head.count - tail.count : 0) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    /// The shortest text (RFC 5952): lowercase, the longest run of two or more zero groups as `::`.
    static func ipv6Text(_ a: [UInt8]) -> String {
        guard a.count == 16 else { return "?" }
        let g = (0..<8).map { UInt16(a[2 * $0]) << 8 | UInt16(a[2 * $0 + 1]) }
        var best = (start: -1, length: 0), i = 0
        while i < 8 {
            guard g[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && g[j] == 0 { j += 1 }
            if j - i > best.length && j - i >= 2 { best = (i, j - i) }
            i = j
        }
        let hex = g.map { String($0, radix: 16) }
        guard best.start >= 0 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }
}

public struct ListenAddressProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

extension Substring {
    /// Splits on a multi-character separator (no Foundation).
    func components(_ separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }
}

/// A command run after an event (`[[hook]]`), as the unprivileged user, with
/// the event as JSON on its standard input.
public struct Hook: Equatable, Sendable {
    public var name: String
    public var origin: ConfigOrigin
    /// An absolute path and its arguments (no shell).
    public var command: [String]
    /// The event kinds that run it (`kill` by default).
    public var events: Set<String> = ["kill"]
    /// Ended with SIGKILL past this (and that is a `hook_failed` event).
    public var timeout: Duration = .seconds(10)

    public init(name: String, origin: ConfigOrigin, command: [String]) {
        self.name = name
        self.origin = origin
        self.command = command
    }
}

/// The event history's settings (`[events]`): the store's retention and
/// size (Docs/events.md; whichever bound is reached first prunes the
/// oldest), and the flight recorder.
public struct EventSettings: Equatable, Sendable {
    /// 30 days: a month of incidents to look back on, as the journal keeps
    /// on a typical node; a group's OOM history older than that says little.
    public var retention = Duration.seconds(30 * 86_400)
    /// 64 MiB: about 300,000 kernel events or 24,000 kills with their 50
    /// candidates each (Docs/performance.md); small beside /var/lib, large
    /// for a month.
    public var maxSize: UInt64 = 64 << 20

    /// The least of `max_size`: a kill event with its candidates is about
    /// 3 KiB on disk, 10 KiB in memory, and SQLite needs a few pages of its own.
    public static let minimumMaxSize: UInt64 = 1 << 20
    /// The least retention: the store is a history, not a buffer.
    public static let minimumRetention = Duration.seconds(3600)

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
