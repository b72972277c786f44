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
        try load(files.map { file in (file.name, { () throws(TOMLError) in try parseTOML(file.text, file: file.name) }) })
    }

    /// As `load(_:)`, from the bytes of the files: ill-formed UTF-8 is an error at its line and
    /// column instead of a U+FFFD slipped into a key or a pattern.
    public static func load(_ files: [(name: String, bytes: [UInt8])]) throws(ConfigErrors) -> Config {
        try load(files.map { file in (file.name, { () throws(TOMLError) in try parseTOML(utf8: file.bytes, file: file.name) }) })
    }

    private static func load(_ files: [(name: String, parse: () throws(TOMLError) -> TOMLTable)]) throws(ConfigErrors) -> Config {
        var config = Config()
        var errors: [ConfigError] = []
        for file in files {
            config.files.append(file.name)
            do {
                let table = try file.parse()
                var reader = ConfigTableReader(file: file.name)
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
    static func crossChecks(_ config: Config) -> [ConfigError] {
        var out: [ConfigError] = []
        for rule in config.guards {
            let context = "guard '\(rule.name)'"
            // A guard that watches only protected groups and may kill only those can never act.
            if rule.candidates == .self, !rule.match.isEmpty, rule.match.allSatisfy({ watched in
                config.protect.contains { protected in
                    protected.text == watched.text || (watched.literalPath.map(protected.matches) ?? false)
                }
            }) {
                out.append(ConfigError(origin: rule.origin, key: context,
                                       message: "every group it watches is protected, so it could never kill anything"))
            }
        }
        return out
    }

}

/// The trigger kinds of the configuration language, each with the keys that modify it. The
/// reader switches over it exhaustively: a kind cannot be added without being read.
enum TriggerKey: String, CaseIterable {
    case usageOfLimit = "usage_of_limit"
    case usageAbove = "usage_above"
    case pressureAbove = "pressure_above"
    case nodeAvailableBelow = "node_available_below"
    case nodeSwapFreeBelow = "node_swap_free_below"
    case nodePressureAbove = "node_pressure_above"
    case eventsPerSecondAbove = "events_per_second_above"
    case oomKill = "oom_kill"

    /// The modifiers it takes, in the order error messages list them.
    var modifiers: [TriggerModifier] {
        switch self {
        case .usageOfLimit: [.limit, .count, .for]
        case .usageAbove: [.count, .for]
        case .pressureAbove, .nodePressureAbove: [.pressure, .window, .for]
        case .nodeAvailableBelow, .nodeSwapFreeBelow: [.for]
        case .eventsPerSecondAbove: [.event, .for]
        case .oomKill: []
        }
    }
}

/// A key that modifies a trigger rather than naming one.
enum TriggerModifier: String, CaseIterable {
    case limit, count, pressure, window, event, `for`
}

/// Reads the root table of one configuration file into the configuration, collecting errors.
struct ConfigTableReader {
    let file: String
    var errors: [ConfigError] = []

    init(file: String) { self.file = file }

    func origin(_ location: TOMLLocation) -> ConfigOrigin {
        ConfigOrigin(file: file, line: location.line, column: location.column)
    }

    mutating func fail(_ location: TOMLLocation, _ key: String, _ message: String) {
        errors.append(ConfigError(origin: origin(location), key: key, message: message))
    }

    static let topKeys = ["daemon", "events", "protect", "honor_xattrs", "guard", "hook", "metrics", "min_kill_size", "post_action_delay"]
    static let metricsKeys = ["listen", "max_groups"]
    static let daemonKeys = ["interval", "user", "group", "allow_shared_user", "dry_run", "max_running_hooks"]
    static let hookKeys = ["name", "command", "events", "timeout"]
    static let eventsKeys = ["retention", "max_size", "flight_recorder", "flight_recorder_max_size"]
    static let guardKeys = ["name", "match", "trigger", "combine", "candidates", "rank", "min_kill_size",
                            "post_action_delay", "prefer", "avoid", "qos_order", "mode", "max_victim_procs",
                            "max_victim_share"]

    mutating func apply(_ root: TOMLTable, to config: inout Config) {
        checkKeys(root, allowed: ConfigTableReader.topKeys, context: "")
        if let daemonEntry = root.entry("daemon"), let daemon = table(daemonEntry, "daemon") {
            checkKeys(daemon, allowed: ConfigTableReader.daemonKeys, context: "daemon")
            if let entry = daemon.entry("interval"), let interval = duration(entry, "daemon.interval") {
                if interval < .milliseconds(100) {
                    fail(entry.node.location, "daemon.interval", "must be at least 100ms (PSI averages update every 2 s)")
                } else {
                    config.daemon.interval = interval
                }
            }
            if let entry = daemon.entry("user"), let user = string(entry, "daemon.user") { config.daemon.user = user }
            if let entry = daemon.entry("group"), let group = string(entry, "daemon.group") { config.daemon.group = group }
            if let entry = daemon.entry("allow_shared_user"), let allow = bool(entry, "daemon.allow_shared_user") {
                config.daemon.allowSharedUser = allow
            }
            if let entry = daemon.entry("dry_run"), let dryRun = bool(entry, "daemon.dry_run") { config.daemon.dryRun = dryRun }
            if let entry = daemon.entry("max_running_hooks") {
                if case .integer(let n) = entry.node.value, n >= 1, n <= 64 {
                    config.daemon.maximumRunningHooks = Int(n)
                } else {
                    fail(entry.node.location, "daemon.max_running_hooks", "must be a whole number from 1 to 64")
                }
            }
        }
        if let metricsEntry = root.entry("metrics"), let metrics = table(metricsEntry, "metrics") {
            checkKeys(metrics, allowed: ConfigTableReader.metricsKeys, context: "metrics")
            if let entry = metrics.entry("listen"), let text = string(entry, "metrics.listen") {
                switch ListenAddress.parse(text) {
                case .success(let address): config.metrics.listen = address
                case .failure(let why): fail(entry.node.location, "metrics.listen", why.description)
                }
            }
            if let entry = metrics.entry("max_groups") {
                if case .integer(let n) = entry.node.value, n >= 1, n <= MetricsSettings.maximumGroupsLimit {
                    config.metrics.maximumGroups = Int(n)
                } else {
                    fail(entry.node.location, "metrics.max_groups",
                         "must be a whole number from 1 to \(MetricsSettings.maximumGroupsLimit) (each group is up to "
                         + "\(MetricsSettings.seriesPerGroup) series)")
                }
            }
        }
        if let eventsEntry = root.entry("events"), let events = table(eventsEntry, "events") {
            checkKeys(events, allowed: ConfigTableReader.eventsKeys, context: "events")
            if let entry = events.entry("flight_recorder") {
                // `false` as well as "0s": no recorder.
                if entry.node.value.boolValue == false {
                    config.events.flightRecorder = .zero
                } else if let window = duration(entry, "events.flight_recorder") {
                    config.events.flightRecorder = window
                }
            }
            if let entry = events.entry("flight_recorder_max_size"), let size = size(entry, "events.flight_recorder_max_size") {
                if size > EventSettings.maximumFlightRecorderSize {
                    fail(entry.node.location, "events.flight_recorder_max_size",
                         "must be at most 64M (the guard locks its memory, at most 256 MiB; the recorder may take a quarter)")
                } else {
                    config.events.flightRecorderMaxSize = size
                }
            }
            if let entry = events.entry("retention"), let retention = duration(entry, "events.retention") {
                if retention < EventSettings.minimumRetention {
                    fail(entry.node.location, "events.retention", "must be at least 1h (the store is a history; max_size bounds its size)")
                } else {
                    config.events.retention = retention
                }
            }
            if let entry = events.entry("max_size"), let maxSize = size(entry, "events.max_size") {
                if maxSize < EventSettings.minimumMaxSize {
                    fail(entry.node.location, "events.max_size",
                         "must be at least 1M (a kill with its candidates is about 10 KiB, and SQLite needs pages of its own)")
                } else {
                    config.events.maxSize = maxSize
                }
            }
        }
        if let entry = root.entry("protect") { config.protect += patterns(entry, "protect") }
        if let entry = root.entry("honor_xattrs"), let honor = bool(entry, "honor_xattrs") { config.honorAttributes = honor }
        // Defaults for the guards of this file only (fine without guards, in a drop-in).
        var defaults = GuardDefaults()
        if let entry = root.entry("min_kill_size"), let size = size(entry, "min_kill_size") { defaults.minKillSize = size }
        if let entry = root.entry("post_action_delay"), let delay = duration(entry, "post_action_delay") {
            defaults.postActionDelay = delay
        }
        if let hookEntry = root.entry("hook") { readHooks(hookEntry, into: &config) }
        guard let guardEntry = root.entry("guard") else { return }
        guard let list = guardEntry.node.value.arrayValue, list.allSatisfy({ $0.value.tableValue != nil }) else {
            fail(guardEntry.node.location, "guard", "guards are written as [[guard]] tables")
            return
        }
        // Guard names are unique in `config.guards`: a name looked up, not searched (10,000 guards).
        var indexByName: [String: Int] = [:]
        for (index, rule) in config.guards.enumerated() { indexByName[rule.name] = index }
        for node in list {
            guard let rule = readGuard(node, defaults: defaults) else { continue }
            if let index = indexByName[rule.name] {
                if config.guards[index].origin.file == file {
                    fail(node.location, "guard '\(rule.name)'",
                         "a second guard with this name (the first is at line \(config.guards[index].origin.line)); in a drop-in it would replace it")
                } else {
                    config.guards[index] = rule  // a drop-in replaces a guard of the same name
                }
            } else {
                indexByName[rule.name] = config.guards.count
                config.guards.append(rule)
            }
        }
    }

    struct GuardDefaults {
        var minKillSize: UInt64?
        var postActionDelay: Duration?
    }

    mutating func readGuard(_ node: TOMLNode, defaults: GuardDefaults) -> Guard? {
        let table = node.value.tableValue!
        let before = errors.count
        guard let nameEntry = table.entry("name") else {
            fail(node.location, "guard", "needs a name")
            return nil
        }
        guard let name = string(nameEntry, "guard.name"), !name.isEmpty else {
            if errors.count == before { fail(nameEntry.node.location, "guard.name", "must not be empty") }
            return nil
        }
        let context = "guard '\(name)'"
        checkKeys(table, allowed: ConfigTableReader.guardKeys, context: context)
        var match: [CgroupPattern] = []
        if let entry = table.entry("match") {
            match = patterns(entry, "\(context): match")
        } else {
            fail(node.location, context, "needs 'match': the cgroups it watches (e.g. \"/tenants.slice/*\")")
        }
        var triggers: [Trigger] = []
        if let entry = table.entry("trigger") {
            if let list = entry.node.value.arrayValue, list.allSatisfy({ $0.value.tableValue != nil }) {
                for (index, triggerNode) in list.enumerated() {
                    if let trigger = readTrigger(triggerNode, context: "\(context) trigger \(index + 1)") { triggers.append(trigger) }
                }
            } else if entry.node.value.tableValue != nil {
                if let trigger = readTrigger(entry.node, context: "\(context) trigger 1") { triggers.append(trigger) }
            } else {
                fail(entry.node.location, "\(context): trigger", "triggers are written as [[guard.trigger]] tables")
            }
        } else {
            fail(node.location, context, "needs at least one [[guard.trigger]]")
        }
        var rule = Guard(name: name, origin: origin(node.location), match: match, triggers: triggers)
        if let size = defaults.minKillSize { rule.minKillSize = size }
        if let delay = defaults.postActionDelay { rule.postActionDelay = delay }
        if let entry = table.entry("combine"), let combine: Combine = choice(entry, "\(context): combine") { rule.combine = combine }
        if let entry = table.entry("candidates"), let scope: CandidateScope = choice(entry, "\(context): candidates") {
            rule.candidates = scope
        }
        if let entry = table.entry("rank"), let rank: RankKey = choice(entry, "\(context): rank") { rule.rank = rank }
        if let entry = table.entry("min_kill_size"), let size = size(entry, "\(context): min_kill_size") { rule.minKillSize = size }
        if let entry = table.entry("post_action_delay"), let delay = duration(entry, "\(context): post_action_delay") {
            rule.postActionDelay = delay
        }
        if let entry = table.entry("prefer") { rule.prefer = patterns(entry, "\(context): prefer") }
        if let entry = table.entry("avoid") { rule.avoid = patterns(entry, "\(context): avoid") }
        if let entry = table.entry("qos_order"), let qosOrder = bool(entry, "\(context): qos_order") { rule.qosOrder = qosOrder }
        if let entry = table.entry("mode"), let mode: GuardMode = choice(entry, "\(context): mode") { rule.mode = mode }
        if let entry = table.entry("max_victim_procs") {
            if case .integer(let n) = entry.node.value, n >= 1 {
                rule.maxVictimProcesses = UInt64(n)
            } else {
                fail(entry.node.location, "\(context): max_victim_procs", "must be a whole number of processes, 1 or more")
            }
        }
        if let entry = table.entry("max_victim_share"),
           let share = percent(entry, "\(context): max_victim_share", max: 100, why: "a group cannot use more than the node") {
            if share.fraction > 0 {
                rule.maxVictimShare = share
            } else {
                fail(entry.node.location, "\(context): max_victim_share", "0% would leave nothing to kill")
            }
        }
        let avoided = Set(rule.avoid)
        for pattern in rule.prefer where avoided.contains(pattern) {
            fail(table.entry("avoid")!.node.location, "\(context): avoid", "'\(pattern)' is both preferred and avoided")
        }
        return errors.count == before ? rule : nil
    }

    /// memory.current can exceed memory.high (it throttles, it does not cap), but it is a 64-bit
    /// count of bytes and a non-zero memory.high is at least one page (4 KiB, the smallest
    /// Linux page): current/high stays below 2^64 / 2^12 = 2^52.
    static let maxPercentOfHigh = 0x1p52 * 100
    /// memory.events counters are 64-bit and the rate is taken between snapshots at least
    /// 10 ms apart (`explain --every`'s floor; the daemon's interval is at least 100 ms).
    static let maxEventsPerSecond = 0x1p64 * 100

    mutating func readTrigger(_ node: TOMLNode, context: String) -> Trigger? {
        let table = node.value.tableValue!
        let kinds = table.entries.compactMap { entry in TriggerKey(rawValue: entry.key).map { (entry: entry, key: $0) } }
        guard kinds.count == 1, let (kindEntry, kindKey) = kinds.first else {
            if kinds.isEmpty {
                fail(node.location, context, "needs one of: \(TriggerKey.allCases.map(\.rawValue).joined(separator: ", "))")
            } else {
                fail(kinds[1].entry.keyLocation, "\(context): \(kinds[1].entry.key)",
                     "a trigger tests one thing; '\(kinds[0].entry.key)' is already set (write a second [[guard.trigger]])")
            }
            return nil
        }
        let allowed = [kindKey.rawValue] + kindKey.modifiers.map(\.rawValue)
        let before = errors.count
        for entry in table.entries where !allowed.contains(entry.key) {
            let known = TriggerKey(rawValue: entry.key) != nil || TriggerModifier(rawValue: entry.key) != nil
            fail(entry.keyLocation, "\(context): \(entry.key)",
                 known ? "does not apply to a '\(kindKey.rawValue)' trigger" : unknownKeyMessage(entry.key, known: allowed))
        }
        func modifier(_ modifier: TriggerModifier) -> TOMLTable.Entry? { table.entry(modifier.rawValue) }
        let kindContext = "\(context): \(kindKey.rawValue)"
        var sustain = Duration.zero
        if let entry = modifier(.for), let span = duration(entry, "\(context): for") { sustain = span }
        func pressureOptions() -> (level: PressureLevel, window: PressureWindow)? {
            var level = PressureLevel.some, window = PressureWindow.avg10
            if let entry = modifier(.pressure) {
                guard let chosen: PressureLevel = choice(entry, "\(context): pressure") else { return nil }
                level = chosen
            }
            if let entry = modifier(.window) {
                guard let chosen: PressureWindow = choice(entry, "\(context): window") else { return nil }
                window = chosen
            }
            return (level, window)
        }
        var count = UsageCount.all
        if let entry = modifier(.count), let chosen: UsageCount = choice(entry, "\(context): count") { count = chosen }
        let kind: TriggerKind?
        switch kindKey {
        case .usageOfLimit:
            var limit = LimitFile.max
            if let entry = modifier(.limit), let chosen: LimitFile = choice(entry, "\(context): limit") { limit = chosen }
            kind = (limit == .max
                ? percent(kindEntry, kindContext, max: 100, why: "memory.current never exceeds memory.max")
                : percent(kindEntry, kindContext, max: ConfigTableReader.maxPercentOfHigh,
                          why: "memory.current is a 64-bit count of bytes, memory.high at least one 4 KiB page"))
                .map { .usageOfLimit($0, limit: limit, count: count) }
        case .usageAbove:
            kind = size(kindEntry, kindContext).map { .usageAbove($0, count: count) }
        case .pressureAbove:
            kind = pressureOptions().flatMap { options in
                percent(kindEntry, kindContext, max: 100, why: "PSI is a share of time")
                    .map { .pressure(options.level, options.window, $0) }
            }
        case .nodeAvailableBelow:
            kind = amount(kindEntry, kindContext).map { .nodeAvailableBelow($0) }
        case .nodeSwapFreeBelow:
            kind = amount(kindEntry, kindContext).map { .nodeSwapFreeBelow($0) }
        case .nodePressureAbove:
            kind = pressureOptions().flatMap { options in
                percent(kindEntry, kindContext, max: 100, why: "PSI is a share of time")
                    .map { .nodePressure(options.level, options.window, $0) }
            }
        case .eventsPerSecondAbove:
            var event = EventCounter.max
            if let entry = modifier(.event), let chosen: EventCounter = choice(entry, "\(context): event") { event = chosen }
            kind = number(kindEntry, kindContext, max: ConfigTableReader.maxEventsPerSecond,
                          why: "a 64-bit counter sampled at least 10 ms apart").map { .eventRate(event, perSecond: $0) }
        case .oomKill:
            if kindEntry.node.value.boolValue == true {
                kind = .oomKill
            } else {
                fail(kindEntry.node.location, kindContext,
                     "write 'oom_kill = true' (it fires when the kernel OOM-killed a task in the group)")
                kind = nil
            }
        }
        guard let kind, errors.count == before else { return nil }
        return Trigger(kind: kind, sustain: sustain, origin: origin(node.location))
    }

    // MARK: typed values

    mutating func checkKeys(_ table: TOMLTable, allowed: [String], context: String) {
        for entry in table.entries where !allowed.contains(entry.key) {
            fail(entry.keyLocation, context.isEmpty ? entry.key : "\(context): \(entry.key)",
                 unknownKeyMessage(entry.key, known: allowed))
        }
    }

    /// Suggests the known key at the smallest edit distance, if it is 2 or less. Only keys
    /// within 2 characters of the length can be that close, so a 100,000-character key costs
    /// one count, not an edit distance against every known key.
    func unknownKeyMessage(_ key: String, known: [String]) -> String {
        let length = key.count
        var closest: (key: String, distance: Int)?
        for candidate in known where abs(candidate.count - length) <= 2 {
            let distance = editDistance(candidate, key)
            if distance <= 2, distance < (closest?.distance ?? .max) { closest = (candidate, distance) }
        }
        if let closest { return "unknown key (did you mean '\(closest.key)'?)" }
        return "unknown key (known here: \(known.joined(separator: ", ")))"
    }

    /// `[[hook]]` tables: a drop-in's hook of the same name replaces one.
    mutating func readHooks(_ entry: TOMLTable.Entry, into config: inout Config) {
        guard let list = entry.node.value.arrayValue, list.allSatisfy({ $0.value.tableValue != nil }) else {
            fail(entry.node.location, "hook", "hooks are written as [[hook]] tables")
            return
        }
        let kinds = Set(GuardEvent.Kind.allCases.map(\.rawValue))
        for node in list {
            let table = node.value.tableValue!
            let before = errors.count
            guard let nameEntry = table.entry("name"), let name = string(nameEntry, "hook.name"), !name.isEmpty else {
                fail(node.location, "hook", "needs a name")
                continue
            }
            let context = "hook '\(name)'"
            checkKeys(table, allowed: ConfigTableReader.hookKeys, context: context)
            var command: [String] = []
            if let c = table.entry("command") {
                if let parts = c.node.value.arrayValue?.compactMap(\.value.stringValue), !parts.isEmpty,
                   parts.count == c.node.value.arrayValue?.count {
                    if parts[0].hasPrefix("/") {
                        command = parts
                    } else {
                        fail(c.node.location, "\(context): command", "'\(parts[0])' is not an absolute path (no shell runs it, no PATH is searched)")
                    }
                } else {
                    fail(c.node.location, "\(context): command", "must be a list of strings: the program's absolute path, then its arguments")
                }
            } else {
                fail(node.location, context, "needs a command, e.g. [\"/usr/local/bin/notify\", \"--quiet\"]")
            }
            var hook = Hook(name: name, origin: origin(node.location), command: command)
            if let e = table.entry("events") {
                let values = e.node.value.arrayValue?.compactMap(\.value.stringValue) ?? e.node.value.stringValue.map { [$0] } ?? []
                if values.isEmpty { fail(e.node.location, "\(context): events", "must be an event kind or a list of them") }
                for v in values where !kinds.contains(v) {
                    fail(e.node.location, "\(context): events", "'\(v)' is not an event kind (\(kinds.sorted().joined(separator: ", ")))")
                }
                if values.contains("hook_failed") {
                    fail(e.node.location, "\(context): events", "a hook cannot run on hook failures (it could run itself without end)")
                }
                hook.events = Set(values)
            }
            if let t = table.entry("timeout"), let timeout = duration(t, "\(context): timeout") {
                if timeout < .milliseconds(100) || timeout > .seconds(600) {
                    fail(t.node.location, "\(context): timeout", "must be between 100ms and 10m")
                } else {
                    hook.timeout = timeout
                }
            }
            guard errors.count == before else { continue }
            if let i = config.hooks.firstIndex(where: { $0.name == name }) {
                if config.hooks[i].origin.file == file {
                    fail(node.location, context, "a second hook with this name (the first is at line \(config.hooks[i].origin.line))")
                } else {
                    config.hooks[i] = hook
                }
            } else {
                config.hooks.append(hook)
            }
        }
    }

    mutating func table(_ entry: TOMLTable.Entry, _ key: String) -> TOMLTable? {
        guard let table = entry.node.value.tableValue else {
            fail(entry.node.location, key, "must be a table, not \(article(entry.node.value.typeName))")
            return nil
        }
        return table
    }

    mutating func string(_ entry: TOMLTable.Entry, _ key: String) -> String? {
        guard let text = entry.node.value.stringValue else {
            fail(entry.node.location, key, "must be a string, not \(article(entry.node.value.typeName))")
            return nil
        }
        return text
    }

    mutating func bool(_ entry: TOMLTable.Entry, _ key: String) -> Bool? {
        guard let flag = entry.node.value.boolValue else {
            fail(entry.node.location, key, "must be true or false, not \(article(entry.node.value.typeName))")
            return nil
        }
        return flag
    }

    /// A number (a rate of events per second): finite, 0 or more and at most `max`.
    mutating func number(_ entry: TOMLTable.Entry, _ key: String, max: Double, why: String) -> Double? {
        let value: Double
        switch entry.node.value {
        case .integer(let integer): value = Double(integer)
        case .float(let float):
            guard float.isFinite else {
                fail(entry.node.location, key, "must be a finite number, not \(Units.decimal(float, decimals: 0))")
                return nil
            }
            value = float
        default:
            fail(entry.node.location, key, "must be a number, not \(article(entry.node.value.typeName))")
            return nil
        }
        guard value >= 0 else {
            fail(entry.node.location, key, "must be 0 or more")
            return nil
        }
        guard value <= max else {
            fail(entry.node.location, key, "\(Quantities.trimmed(value)) can never be reached (\(why))")
            return nil
        }
        return value
    }

    mutating func size(_ entry: TOMLTable.Entry, _ key: String) -> UInt64? {
        switch entry.node.value {
        case .integer(let integer):
            if integer >= 0 { return UInt64(integer) }
            fail(entry.node.location, key, "must be 0 or more")
        case .string(let text):
            switch Quantities.sizing(text) {
            case .success(let bytes): return bytes
            case .failure(.tooLarge):
                fail(entry.node.location, key, "'\(text)' is too large (a size is a 64-bit count of bytes)")
            case .failure(.malformed):
                fail(entry.node.location, key, "'\(text)' is not a size (write e.g. \"512M\", \"2G\", or bytes)")
            }
        default:
            fail(entry.node.location, key, "must be a size like \"512M\", not \(article(entry.node.value.typeName))")
        }
        return nil
    }

    mutating func duration(_ entry: TOMLTable.Entry, _ key: String) -> Duration? {
        guard let text = entry.node.value.stringValue else {
            fail(entry.node.location, key, "must be a duration like \"10s\", not \(article(entry.node.value.typeName))")
            return nil
        }
        switch Duration.parsing(text) {
        case .success(let span): return span
        case .failure(.tooLarge):
            fail(entry.node.location, key, "'\(text)' is too long (at most \(Duration.maximum.nanosecondsClamped / 3_600_000_000_000)h, "
                 + "about 292 years: durations are signed 64-bit nanoseconds)")
        case .failure(.malformed):
            fail(entry.node.location, key, "'\(text)' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")")
        }
        return nil
    }

    /// A percentage, as a string (`"90%"`) or a plain number of percent: finite, 0 or more and at most `max`.
    mutating func percent(_ entry: TOMLTable.Entry, _ key: String, max: Double, why: String) -> Percent? {
        let share: Percent
        let written: String
        switch entry.node.value {
        case .string(let text):
            switch Percent.parsing(text) {
            case .success(let parsed): share = parsed
            case .failure(.tooLarge):
                fail(entry.node.location, key, "\(text) can never be reached (\(why))")
                return nil
            case .failure(.malformed):
                fail(entry.node.location, key, "'\(text)' is not a percentage (write e.g. \"90%\")")
                return nil
            }
            written = text
        case .integer(let integer) where integer >= 0:
            share = .percent(Double(integer))
            written = "\(integer)%"
        case .float(let float) where !float.isFinite:
            fail(entry.node.location, key, "must be a finite number, not \(Units.decimal(float, decimals: 0))")
            return nil
        case .float(let float) where float >= 0:
            share = .percent(float)
            written = Quantities.trimmed(float) + "%"
        case .integer, .float:
            fail(entry.node.location, key, "must be 0 or more")
            return nil
        default:
            fail(entry.node.location, key, "must be a percentage like \"90%\", not \(article(entry.node.value.typeName))")
            return nil
        }
        if share.percent > max {
            fail(entry.node.location, key, "\(written) can never be reached (\(why))")
            return nil
        }
        return share
    }

    mutating func amount(_ entry: TOMLTable.Entry, _ key: String) -> Amount? {
        if let text = entry.node.value.stringValue, text.hasSuffix("%") {
            return percent(entry, key, max: 100, why: "a share of a total").map { .percent($0) }
        }
        return size(entry, key).map { .bytes($0) }
    }

    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ entry: TOMLTable.Entry, _ key: String) -> Choice?
    where Choice.RawValue == String {
        guard let text = entry.node.value.stringValue else {
            fail(entry.node.location, key, "must be a string, not \(article(entry.node.value.typeName))")
            return nil
        }
        guard let chosen = Choice(rawValue: text) else {
            fail(entry.node.location, key, "'\(text)' is not one of: \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return chosen
    }

    mutating func patterns(_ entry: TOMLTable.Entry, _ key: String) -> [CgroupPattern] {
        let nodes: [TOMLNode]
        if entry.node.value.stringValue != nil {
            nodes = [entry.node]
        } else if let list = entry.node.value.arrayValue {
            nodes = list
        } else {
            fail(entry.node.location, key, "must be a pattern or a list of patterns, not \(article(entry.node.value.typeName))")
            return []
        }
        var out: [CgroupPattern] = []
        for node in nodes {
            guard let text = node.value.stringValue else {
                fail(node.location, key, "patterns are strings, not \(article(node.value.typeName))")
                continue
            }
            switch CgroupPattern.parse(text) {
            case .success(let pattern): out.append(pattern)
            case .failure(let why): fail(node.location, key, "'\(text)' can never match: \(why)")
            }
        }
        return out
    }
}

/// "a string", "an integer", "an offset date-time".
func article(_ noun: String) -> String {
    ("aeiou".contains(noun.first ?? "x") ? "an " : "a ") + noun
}

/// Levenshtein distance between two strings, in Characters.
func editDistance(_ first: String, _ second: String) -> Int {
    let first = Array(first), second = Array(second)
    if first.isEmpty { return second.count }
    if second.isEmpty { return first.count }
    var previous = Array(0...second.count)
    for row in 1...first.count {
        var current = [row] + [Int](repeating: 0, count: second.count)
        for column in 1...second.count {
            let substitution = previous[column - 1] + (first[row - 1] == second[column - 1] ? 0 : 1)
            current[column] = Swift.min(previous[column] + 1, current[column - 1] + 1, substitution)
        }
        previous = current
    }
    return previous[second.count]
}
