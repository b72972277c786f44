import CGWardenCore
import TOML

/// A configuration error: the file, line and column, the key, and what is wrong.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var origin: ConfigOrigin
    /// Where in the structure: `guard 'tenants' trigger 1: usage_of_limit`.
    public var key: String
    public var message: String

    public init(origin: ConfigOrigin, key: String, message: String) {
        self.origin = origin
        self.key = key
        self.message = message
    }

    public var description: String {
        key.isEmpty ? "\(origin): \(message)" : "\(origin): \(key): \(message)"
    }
}

/// Every error found, in file order.
public struct ConfigErrors: Error, Equatable, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Turns configuration text into a `Config`: the main file first, then the
/// drop-ins in name order. Later files override scalar settings, add to
/// `protect`, add guards, and replace a guard of the same name whole.
public enum ConfigLoader {
    public static func load(_ files: [(name: String, text: String)]) throws(ConfigErrors) -> Config {
        var config = Config()
        var errors: [ConfigError] = []
        for file in files {
            config.files.append(file.name)
            do {
                let table = try parseTOML(file.text, file: file.name)
                var reader = FileReader(file: file.name)
                reader.apply(table, to: &config)
                errors += reader.errors.sorted { ($0.origin.line, $0.origin.column) < ($1.origin.line, $1.origin.column) }
            } catch {
                errors.append(ConfigError(origin: ConfigOrigin(file: error.file, line: error.location.line,
                                                               column: error.location.column),
                                          key: "", message: error.message))
            }
        }
        errors += crossChecks(config)
        if !errors.isEmpty { throw ConfigErrors(errors: errors) }
        return config
    }

    /// Contradictions visible only once everything is merged.
    static func crossChecks(_ c: Config) -> [ConfigError] {
        var out: [ConfigError] = []
        for g in c.guards {
            let context = "guard '\(g.name)'"
            // A guard that watches only protected groups and may kill only those can never act.
            if g.candidates == .self, !g.match.isEmpty, g.match.allSatisfy({ m in
                c.protect.contains { p in p.text == m.text || (isLiteral(m) && p.matches(CgroupPath(m.text)!)) }
            }) {
                out.append(ConfigError(origin: g.origin, key: context,
                                       message: "every group it watches is protected, so it could never kill anything"))
            }
        }
        return out
    }

    static func isLiteral(_ p: CgroupPattern) -> Bool {
        !p.text.contains("*") && !p.text.contains("?")
    }
}

/// Reads one file's table into the configuration, collecting errors.
struct FileReader {
    let file: String
    var errors: [ConfigError] = []

    init(file: String) { self.file = file }

    func origin(_ l: TOMLLocation) -> ConfigOrigin { ConfigOrigin(file: file, line: l.line, column: l.column) }

    mutating func fail(_ l: TOMLLocation, _ key: String, _ message: String) {
        errors.append(ConfigError(origin: origin(l), key: key, message: message))
    }

    static let topKeys = ["daemon", "protect", "honor_xattrs", "guard", "min_kill_size", "post_action_delay"]
    static let daemonKeys = ["interval", "user", "group", "dry_run"]
    static let guardKeys = ["name", "match", "trigger", "combine", "candidates", "rank", "min_kill_size",
                            "post_action_delay", "prefer", "avoid", "qos_order"]

    mutating func apply(_ t: TOMLTable, to c: inout Config) {
        checkKeys(t, allowed: FileReader.topKeys, context: "")
        if let d = t.entry("daemon") {
            if let table = table(d, "daemon") {
                checkKeys(table, allowed: FileReader.daemonKeys, context: "daemon")
                if let e = table.entry("interval"), let v = duration(e, "daemon.interval") {
                    if v < .milliseconds(100) {
                        fail(e.node.location, "daemon.interval", "must be at least 100ms (PSI averages update every 2 s)")
                    } else {
                        c.daemon.interval = v
                    }
                }
                if let e = table.entry("user"), let v = string(e, "daemon.user") { c.daemon.user = v }
                if let e = table.entry("group"), let v = string(e, "daemon.group") { c.daemon.group = v }
                if let e = table.entry("dry_run"), let v = bool(e, "daemon.dry_run") { c.daemon.dryRun = v }
            }
        }
        if let e = t.entry("protect") { c.protect += patterns(e, "protect") }
        if let e = t.entry("honor_xattrs"), let v = bool(e, "honor_xattrs") { c.honorAttributes = v }
        var defaults = GuardDefaults()
        if let e = t.entry("min_kill_size"), let v = size(e, "min_kill_size") { defaults.minKillSize = v }
        if let e = t.entry("post_action_delay"), let v = duration(e, "post_action_delay") { defaults.postActionDelay = v }
        if let e = t.entry("guard") {
            guard let list = e.node.value.arrayValue, list.allSatisfy({ $0.value.tableValue != nil }) else {
                fail(e.node.location, "guard", "guards are written as [[guard]] tables")
                return
            }
            for node in list {
                guard let g = readGuard(node, defaults: defaults) else { continue }
                if let i = c.guards.firstIndex(where: { $0.name == g.name }) {
                    if c.guards[i].origin.file == file {
                        fail(node.location, "guard '\(g.name)'",
                             "a second guard with this name (the first is at line \(c.guards[i].origin.line)); in a drop-in it would replace it")
                    } else {
                        c.guards[i] = g  // a drop-in replaces a guard of the same name
                    }
                } else {
                    c.guards.append(g)
                }
            }
        } else if defaults.minKillSize != nil || defaults.postActionDelay != nil {
            // Defaults for guards of this file only: fine without guards in a drop-in.
        }
    }

    struct GuardDefaults {
        var minKillSize: UInt64?
        var postActionDelay: TimeSpan?
    }

    mutating func readGuard(_ node: TOMLNode, defaults: GuardDefaults) -> Guard? {
        let t = node.value.tableValue!
        let before = errors.count
        guard let nameEntry = t.entry("name") else {
            fail(node.location, "guard", "needs a name")
            return nil
        }
        guard let name = string(nameEntry, "guard.name"), !name.isEmpty else {
            if errors.count == before { fail(nameEntry.node.location, "guard.name", "must not be empty") }
            return nil
        }
        let context = "guard '\(name)'"
        checkKeys(t, allowed: FileReader.guardKeys, context: context)
        var match: [CgroupPattern] = []
        if let e = t.entry("match") { match = patterns(e, "\(context): match") } else {
            fail(node.location, context, "needs 'match': the cgroups it watches (e.g. \"/tenants.slice/*\")")
        }
        var triggers: [Trigger] = []
        if let e = t.entry("trigger") {
            if let list = e.node.value.arrayValue, list.allSatisfy({ $0.value.tableValue != nil }) {
                for (i, tn) in list.enumerated() {
                    if let tr = readTrigger(tn, context: "\(context) trigger \(i + 1)") { triggers.append(tr) }
                }
            } else if e.node.value.tableValue != nil {
                if let tr = readTrigger(e.node, context: "\(context) trigger 1") { triggers.append(tr) }
            } else {
                fail(e.node.location, "\(context): trigger", "triggers are written as [[guard.trigger]] tables")
            }
        }
        if t.entry("trigger") == nil {
            fail(node.location, context, "needs at least one [[guard.trigger]]")
        }
        var g = Guard(name: name, origin: origin(node.location), match: match, triggers: triggers)
        if let d = defaults.minKillSize { g.minKillSize = d }
        if let d = defaults.postActionDelay { g.postActionDelay = d }
        if let e = t.entry("combine"), let v: Combine = choice(e, "\(context): combine") { g.combine = v }
        if let e = t.entry("candidates"), let v: CandidateScope = choice(e, "\(context): candidates") { g.candidates = v }
        if let e = t.entry("rank"), let v: RankKey = choice(e, "\(context): rank") { g.rank = v }
        if let e = t.entry("min_kill_size"), let v = size(e, "\(context): min_kill_size") { g.minKillSize = v }
        if let e = t.entry("post_action_delay"), let v = duration(e, "\(context): post_action_delay") { g.postActionDelay = v }
        if let e = t.entry("prefer") { g.prefer = patterns(e, "\(context): prefer") }
        if let e = t.entry("avoid") { g.avoid = patterns(e, "\(context): avoid") }
        if let e = t.entry("qos_order"), let v = bool(e, "\(context): qos_order") { g.qosOrder = v }
        for p in g.prefer where g.avoid.contains(p) {
            fail(t.entry("avoid")!.node.location, "\(context): avoid",
                 "'\(p)' is both preferred and avoided")
        }
        return errors.count == before ? g : nil
    }

    static let triggerKinds = ["usage_of_limit", "usage_above", "pressure_above", "node_available_below",
                               "node_swap_free_below", "node_pressure_above", "events_per_second_above", "oom_kill"]
    static let modifiers: [String: [String]] = [
        "usage_of_limit": ["limit", "count", "for"],
        "usage_above": ["count", "for"],
        "pressure_above": ["pressure", "window", "for"],
        "node_available_below": ["for"],
        "node_swap_free_below": ["for"],
        "node_pressure_above": ["pressure", "window", "for"],
        "events_per_second_above": ["event", "for"],
        "oom_kill": [],
    ]

    /// memory.current can exceed memory.high (it throttles, it does not cap), but it is a 64-bit
    /// count of bytes and a non-zero memory.high is at least one page (4 KiB, the smallest
    /// Linux page): current/high stays below 2^64 / 2^12 = 2^52.
    static let maxPercentOfHigh = 0x1p52 * 100
    /// memory.events counters are 64-bit and the rate is taken between snapshots at least
    /// 10 ms apart (`explain --every`'s floor; the daemon's interval is at least 100 ms).
    static let maxEventsPerSecond = 0x1p64 * 100

    mutating func readTrigger(_ node: TOMLNode, context: String) -> Trigger? {
        let t = node.value.tableValue!
        let kinds = t.entries.filter { FileReader.triggerKinds.contains($0.key) }
        guard kinds.count == 1, let k = kinds.first else {
            if kinds.isEmpty {
                fail(node.location, context, "needs one of: \(FileReader.triggerKinds.joined(separator: ", "))")
            } else {
                fail(kinds[1].keyLocation, "\(context): \(kinds[1].key)",
                     "a trigger tests one thing; '\(kinds[0].key)' is already set (write a second [[guard.trigger]])")
            }
            return nil
        }
        let allowed = [k.key] + FileReader.modifiers[k.key]!
        let before = errors.count
        for e in t.entries where !allowed.contains(e.key) {
            let hint = FileReader.triggerKinds.contains(e.key) || (FileReader.modifiers.values.contains { $0.contains(e.key) })
                ? "does not apply to a '\(k.key)' trigger" : unknownKeyMessage(e.key, known: allowed)
            fail(e.keyLocation, "\(context): \(e.key)", hint)
        }
        let at = "\(context): \(k.key)"
        var sustain = TimeSpan.zero
        if let e = t.entry("for"), let v = duration(e, "\(context): for") { sustain = v }
        func pressureOptions() -> (PressureLevel, PressureWindow)? {
            var level = PressureLevel.some, window = PressureWindow.avg10
            if let e = t.entry("pressure") { guard let v: PressureLevel = choice(e, "\(context): pressure") else { return nil }; level = v }
            if let e = t.entry("window") { guard let v: PressureWindow = choice(e, "\(context): window") else { return nil }; window = v }
            return (level, window)
        }
        var count = UsageCount.all
        if let e = t.entry("count"), let v: UsageCount = choice(e, "\(context): count") { count = v }
        let kind: TriggerKind?
        switch k.key {
        case "usage_of_limit":
            var limit = LimitFile.max
            if let e = t.entry("limit"), let v: LimitFile = choice(e, "\(context): limit") { limit = v }
            kind = (limit == .max
                ? percent(k, at, max: 100, why: "memory.current never exceeds memory.max")
                : percent(k, at, max: FileReader.maxPercentOfHigh,
                          why: "memory.current is a 64-bit count of bytes, memory.high at least one 4 KiB page"))
                .map { .usageOfLimit($0, limit: limit, count: count) }
        case "usage_above":
            kind = size(k, at).map { .usageAbove($0, count: count) }
        case "pressure_above":
            kind = pressureOptions().flatMap { o in percent(k, at, max: 100, why: "PSI is a share of time").map { .pressure(o.0, o.1, $0) } }
        case "node_available_below":
            kind = amount(k, at).map { .nodeAvailableBelow($0) }
        case "node_swap_free_below":
            kind = amount(k, at).map { .nodeSwapFreeBelow($0) }
        case "node_pressure_above":
            kind = pressureOptions().flatMap { o in percent(k, at, max: 100, why: "PSI is a share of time").map { .nodePressure(o.0, o.1, $0) } }
        case "events_per_second_above":
            var event = EventCounter.max
            if let e = t.entry("event"), let v: EventCounter = choice(e, "\(context): event") { event = v }
            kind = number(k, at, max: FileReader.maxEventsPerSecond,
                          why: "a 64-bit counter sampled at least 10 ms apart").map { .eventRate(event, perSecond: $0) }
        case "oom_kill":
            if k.node.value.boolValue == true {
                kind = .oomKill
            } else {
                fail(k.node.location, at, "write 'oom_kill = true' (it fires when the kernel OOM-killed a task in the group)")
                kind = nil
            }
        default:
            kind = nil
        }
        guard let kind, errors.count == before else { return nil }
        return Trigger(kind: kind, sustain: sustain, origin: origin(node.location))
    }

    // MARK: typed values

    mutating func checkKeys(_ t: TOMLTable, allowed: [String], context: String) {
        for e in t.entries where !allowed.contains(e.key) {
            fail(e.keyLocation, context.isEmpty ? e.key : "\(context): \(e.key)", unknownKeyMessage(e.key, known: allowed))
        }
    }

    func unknownKeyMessage(_ key: String, known: [String]) -> String {
        if let close = known.min(by: { editDistance($0, key) < editDistance($1, key) }), editDistance(close, key) <= 2 {
            return "unknown key (did you mean '\(close)'?)"
        }
        return "unknown key (known here: \(known.joined(separator: ", ")))"
    }

    mutating func table(_ e: TOMLTable.Entry, _ key: String) -> TOMLTable? {
        guard let t = e.node.value.tableValue else {
            fail(e.node.location, key, "must be a table, not \(article(e.node.value.typeName))")
            return nil
        }
        return t
    }

    mutating func string(_ e: TOMLTable.Entry, _ key: String) -> String? {
        guard let s = e.node.value.stringValue else {
            fail(e.node.location, key, "must be a string, not \(article(e.node.value.typeName))")
            return nil
        }
        return s
    }

    mutating func bool(_ e: TOMLTable.Entry, _ key: String) -> Bool? {
        guard let b = e.node.value.boolValue else {
            fail(e.node.location, key, "must be true or false, not \(article(e.node.value.typeName))")
            return nil
        }
        return b
    }

    /// A rate of events per second, 0 or more and finite.
    mutating func number(_ e: TOMLTable.Entry, _ key: String, max: Double, why: String) -> Double? {
        let value: Double
        switch e.node.value {
        case .integer(let integer): value = Double(integer)
        case .float(let float):
            guard float.isFinite else {
                fail(e.node.location, key, "must be a finite number, not \(Units.decimal(float, decimals: 0))")
                return nil
            }
            value = float
        default:
            fail(e.node.location, key, "must be a number, not \(article(e.node.value.typeName))")
            return nil
        }
        guard value >= 0 else {
            fail(e.node.location, key, "must be 0 or more")
            return nil
        }
        guard value <= max else {
            fail(e.node.location, key, "\(Quantities.trimmed(value)) can never be reached (\(why))")
            return nil
        }
        return value
    }

    mutating func size(_ e: TOMLTable.Entry, _ key: String) -> UInt64? {
        switch e.node.value {
        case .integer(let integer):
            if integer >= 0 { return UInt64(integer) }
            fail(e.node.location, key, "must be 0 or more")
        case .string(let text):
            switch Quantities.sizing(text) {
            case .success(let bytes): return bytes
            case .failure(.tooLarge):
                fail(e.node.location, key, "'\(text)' is too large (a size is a 64-bit count of bytes)")
            case .failure(.malformed):
                fail(e.node.location, key, "'\(text)' is not a size (write e.g. \"512M\", \"2G\", or bytes)")
            }
        default:
            fail(e.node.location, key, "must be a size like \"512M\", not \(article(e.node.value.typeName))")
        }
        return nil
    }

    mutating func duration(_ e: TOMLTable.Entry, _ key: String) -> TimeSpan? {
        guard let text = e.node.value.stringValue else {
            fail(e.node.location, key, "must be a duration like \"10s\", not \(article(e.node.value.typeName))")
            return nil
        }
        switch TimeSpan.parsing(text) {
        case .success(let span): return span
        case .failure(.tooLarge):
            fail(e.node.location, key, "'\(text)' is too long (at most \(TimeSpan.maximum.nanoseconds / 3_600_000_000_000)h, "
                 + "about 292 years: durations are signed 64-bit nanoseconds)")
        case .failure(.malformed):
            fail(e.node.location, key, "'\(text)' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")")
        }
        return nil
    }

    /// A percentage, as a string (`"90%"`) or a plain number of percent, finite, 0 or more and at most `max`.
    mutating func percent(_ e: TOMLTable.Entry, _ key: String, max: Double, why: String) -> Percent? {
        let share: Percent
        let written: String
        switch e.node.value {
        case .string(let text):
            switch Percent.parsing(text) {
            case .success(let parsed): share = parsed
            case .failure(.tooLarge):
                fail(e.node.location, key, "\(text) can never be reached (\(why))")
                return nil
            case .failure(.malformed):
                fail(e.node.location, key, "'\(text)' is not a percentage (write e.g. \"90%\")")
                return nil
            }
            written = text
        case .integer(let integer) where integer >= 0:
            share = .percent(Double(integer))
            written = "\(integer)%"
        case .float(let float) where !float.isFinite:
            fail(e.node.location, key, "must be a finite number, not \(Units.decimal(float, decimals: 0))")
            return nil
        case .float(let float) where float >= 0:
            share = .percent(float)
            written = Quantities.trimmed(float) + "%"
        case .integer, .float:
            fail(e.node.location, key, "must be 0 or more")
            return nil
        default:
            fail(e.node.location, key, "must be a percentage like \"90%\", not \(article(e.node.value.typeName))")
            return nil
        }
        if share.percent > max {
            fail(e.node.location, key, "\(written) can never be reached (\(why))")
            return nil
        }
        return share
    }

    mutating func amount(_ e: TOMLTable.Entry, _ key: String) -> Amount? {
        if let s = e.node.value.stringValue, s.hasSuffix("%") {
            return percent(e, key, max: 100, why: "a share of a total").map { .percent($0) }
        }
        return size(e, key).map { .bytes($0) }
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ e: TOMLTable.Entry, _ key: String) -> T? where T.RawValue == String {
        guard let s = e.node.value.stringValue else {
            fail(e.node.location, key, "must be a string, not \(article(e.node.value.typeName))")
            return nil
        }
        guard let v = T(rawValue: s) else {
            fail(e.node.location, key, "'\(s)' is not one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return v
    }

    mutating func patterns(_ e: TOMLTable.Entry, _ key: String) -> [CgroupPattern] {
        let nodes: [TOMLNode]
        if e.node.value.stringValue != nil {
            nodes = [e.node]
        } else if let a = e.node.value.arrayValue {
            nodes = a
        } else {
            fail(e.node.location, key, "must be a pattern or a list of patterns, not \(article(e.node.value.typeName))")
            return []
        }
        var out: [CgroupPattern] = []
        for n in nodes {
            guard let s = n.value.stringValue else {
                fail(n.location, key, "patterns are strings, not \(article(n.value.typeName))")
                continue
            }
            switch CgroupPattern.parse(s) {
            case .success(let p): out.append(p)
            case .failure(let why): fail(n.location, key, "'\(s)' can never match: \(why)")
            }
        }
        return out
    }
}

/// "a string", "an integer", "an offset date-time".
func article(_ noun: String) -> String {
    ("aeiou".contains(noun.first ?? "x") ? "an " : "a ") + noun
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}

