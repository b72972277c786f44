import CGWardenCore
import CGWardenPolicy
import CGWardenCommands
import TOML

/// The fuzz targets. Each takes any bytes and must return; a trap (overflow,
/// a failed precondition, an out-of-range conversion) ends the process, and
/// that is the finding. Errors thrown by the code under test are normal.
enum FuzzTarget: String, CaseIterable {
    /// Every `Parse.*` of CGWardenCore, the values pushed through the
    /// evaluator and every view; the recording decoder.
    case kernelFiles = "kernel-files"
    /// `parseTOML`, then `ConfigLoader.load`, then the loaded configuration
    /// evaluated and shown.
    case toml
    /// `HelperRequest.decode`, `HelperReply.decode`, `LauncherWire.decode`,
    /// each with a round trip through its encoder.
    case wire

    func run(_ b: Bytes) {
        switch self {
        case .kernelFiles: KernelFilesTarget.run(b)
        case .toml: TOMLTarget.run(b)
        case .wire: WireTarget.run(b)
        }
    }

    /// Words of the format for the seeded mutator.
    var dictionary: [String] {
        switch self {
        case .kernelFiles:
            return ["max", "anon ", "file ", "shmem ", "kernel ", "kernel_stack ", "pagetables ", "slab_unreclaimable ",
                    "low ", "high ", "oom ", "oom_kill ", "oom_group_kill ", "populated ", "frozen ", "nr_descendants ",
                    "nr_dying_descendants ", "nr_free_pages ", "some ", "full ", "avg10=", "avg60=", "avg300=", "total=",
                    "MemTotal:", "MemAvailable:", "SwapTotal:", "SwapFree:", " kB", "0::/", "0::/../x", "1:memory:/",
                    "\n", " ", "\t", "\r\n", "-", ".", "=", ":", "\u{0}", "\u{FEFF}", "é",
                    "6,1234,5140900,-;", "3,1235,5140950,c;", "4,7,1,+;", "\n SUBSYSTEM=memory", "\\x0a", "\\x5c",
                    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0", ",oom_memcg=/t",
                    ",task_memcg=/t/a", ",global_oom", ",task=", ",pid=", ",uid=",
                    "Memory cgroup out of memory: Killed process ", "Out of memory: Killed process ", " (", ") total-vm:",
                    "kB, anon-rss:", "kB, file-rss:", "kB, shmem-rss:", "kB, UID:", " pgtables:", " oom_score_adj:",
                    "{\"cgwarden_recording\": 1}\n", "\"monotonic_ns\": ", "\"cgroups\": [", "\"memory\": {", "null",
                    "\"current\": ", "\"nr_procs\": ", "\"stat\": {\"anon\": ", "\"path\": \"/a\"", "\\u0000", "\\ud800",
                    "{", "}", "[", "]", ",", "\""]
        case .toml:
            return ["[[guard]]\n", "[[guard.trigger]]\n", "[daemon]\n", "name = ", "match = ", "\"/**\"", "\"/\"",
                    "candidates = ", "\"leaves\"", "\"pods\"", "rank = ", "\"growth\"", "\"swap\"", "combine = \"all\"",
                    "usage_of_limit = ", "usage_above = ", "node_available_below = ", "node_swap_free_below = ",
                    "pressure_above = ", "node_pressure_above = ", "events_per_second_above = ", "oom_kill = true",
                    "limit = \"high\"", "count = \"unreclaimable\"", "pressure = \"full\"", "window = \"60s\"",
                    "for = ", "post_action_delay = ", "min_kill_size = ", "protect = [", "prefer = [", "avoid = [",
                    "interval = ", "\"90%\"", "\"100%\"", "\"1e400%\"", "\"10s\"", "\"5m\"", "\"1.5G\"", "\"16E\"",
                    "\"99999999999P\"", "inf", "-inf", "nan", "1e308", "1e-308", "-0.0", "0x7fffffffffffffff",
                    "0o777", "0b1", "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "'''", "\"\"\"", "\\u0000",
                    "\\U0010FFFF", "\\ud800", "{", "}", "=", ".", "#", "\n", "\r\n", " ", "true", "false", "a.b.c = 1\n"]
        case .wire:
            return []
        }
    }

    /// Largest input the seeded run builds (libFuzzer: -max_len in scripts/fuzz).
    var maximumSize: Int {
        switch self {
        case .kernelFiles: return 1 << 20
        case .toml: return 256 << 10
        case .wire: return 20 << 10
        }
    }
}

extension FuzzTarget {
    func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { run($0) }
    }
}

// MARK: - kernel files

enum KernelFilesTarget {
    /// Every trigger; one configuration per rank key (and candidate scope):
    /// an input runs with one of them (chosen by its length), so that each
    /// input costs one guard's evaluation and views, not five.
    static let configTexts: [String] = {
        let scopes = ["self", "children", "leaves", "pods", "self"]
        return ["usage", "usage_above_protection", "growth", "pressure", "swap"].enumerated().map { i, rank in
            "protect = [\"/t/protected\"]\nmin_kill_size = \"1\"\nhonor_xattrs = true\n" + """
                [[guard]]
                name = "\(rank)"
                match = ["/**", "/"]
                candidates = "\(scopes[i])"
                rank = "\(rank)"
                qos_order = \(i % 2 == 0)
                prefer = ["/t/a"]
                avoid = ["/t/b"]
                post_action_delay = "\(i)s"
                [[guard.trigger]]
                usage_of_limit = "1%"
                count = "unreclaimable"
                [[guard.trigger]]
                usage_of_limit = "1%"
                limit = "high"
                [[guard.trigger]]
                usage_above = "1"
                count = "unreclaimable"
                [[guard.trigger]]
                pressure_above = "1%"
                window = "60s"
                [[guard.trigger]]
                node_available_below = "100%"
                [[guard.trigger]]
                node_swap_free_below = "99%"
                [[guard.trigger]]
                node_pressure_above = "1%"
                pressure = "full"
                [[guard.trigger]]
                events_per_second_above = 0.5
                event = "\(i % 2 == 0 ? "max" : "high")"
                [[guard.trigger]]
                oom_kill = true

                """
        }
    }()

    static let configs: [Config] = configTexts.map { text in
        do { return try ConfigLoader.load([(name: "fuzz.toml", text: text)]) } catch {
            fatalError("the fuzz configuration does not load: \(error)")
        }
    }

    static let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice"

    static func run(_ b: Bytes) {
        var errors: [ParseError] = []
        func attempt<T>(_ parse: () throws(ParseError) -> T) -> T? {
            do { return try parse() } catch { errors.append(error); return nil }
        }
        let number = attempt { () throws(ParseError) in try Parse.bytes(b, file: "memory.current") }
        let limit = attempt { () throws(ParseError) in try Parse.limit(b, file: "memory.max") }
        let integer = attempt { () throws(ParseError) in try Parse.integer(b, file: "oom_score_adj") }
        let statm = attempt { () throws(ParseError) in try Parse.statmResidentPages(b) }
        let keyed = attempt { () throws(ParseError) in try Parse.keyed(b, file: "keyed", required: ["anon"]) }
        let events = attempt { () throws(ParseError) in try Parse.memoryEvents(b) }
        let stat = attempt { () throws(ParseError) in try Parse.memoryStat(b) }
        let cgroupStat = attempt { () throws(ParseError) in try Parse.cgroupStat(b) }
        let vmstat = attempt { () throws(ParseError) in try Parse.vmstat(b) }
        let cgroupEvents = attempt { () throws(ParseError) in try Parse.cgroupEvents(b) }
        let pressure = attempt { () throws(ParseError) in try Parse.pressure(b) }
        let meminfo = attempt { () throws(ParseError) in try Parse.meminfo(b) }
        let procCgroup = attempt { () throws(ParseError) in try Parse.procCgroup(b) }
        let pids = attempt { () throws(ParseError) in try Parse.pids(b) }
        let pidCount = attempt { () throws(ParseError) in try Parse.pidCount(b) }
        let controllers = attempt { () throws(ParseError) in try Parse.controllers(b) }
        let summary = attempt { () throws(ParseError) in try Parse.memoryStatSummary(b) }
        // /proc/self/smaps, which decides what the daemon drops: a mapping
        // is never inverted, and what passes as a clean copy is a private,
        // unwritten file mapping.
        if let maps = attempt({ () throws(ParseError) in try Parse.smaps(b) }) {
            for m in maps {
                precondition(m.start <= m.end && m.size == m.end - m.start, "mapping \(m.start)-\(m.end)")
                if m.isCleanFileCopy { precondition(!m.writable && !m.shared && m.anonymousKiB == 0 && m.inode != 0) }
            }
        }
        for e in errors { _ = e.description }
        // The summary is the full parse's three values, or fails with it.
        precondition((summary == nil) == (stat == nil))
        if let summary, let stat { precondition(summary == MemoryState.statSummary(stat)) }
        // The fast path agrees with the full parser.
        if let pids { precondition(pidCount == pids.count, "pidCount \(String(describing: pidCount)) != \(pids.count)") }
        if let keyed, let stat { precondition(keyed == stat) }
        _ = controllers
        if case let path?? = procCgroup { _ = GroupIdentity(path: path).kubernetes }
        // Any bytes as pod log directory entries (one per line), and as one name.
        let pods = PodNames(entries: b.split(separator: 0x0a).map { Array($0) } + [Array(b)])
        for (uid, name) in pods.byUID { precondition(pods[uid] == name); _ = name.description }
        _ = pods.warnings

        // The values, as a group's and the node's, through the evaluator and every view:
        // only when some value was read (the views cost a hundred times the parsers),
        // and up to 64 KiB (they are linear in the keys, but a 1 MiB file of keys
        // shown a dozen times takes seconds in a debug build: the size that finds a
        // quadratic step is the parsers' business).
        let anyValue = b.count <= evaluatedSize && ( number != nil || limit != nil || integer != nil || statm != nil || keyed != nil || events != nil
            || stat != nil || cgroupStat != nil || vmstat != nil || cgroupEvents != nil || pressure != nil
            || meminfo != nil || pids?.isEmpty == false)
        if anyValue { evaluate(b, number: number, limit: limit, integer: integer, statm: statm, keyed: keyed, events: events,
                               stat: stat, cgroupStat: cgroupStat, vmstat: vmstat, cgroupEvents: cgroupEvents,
                               pressure: pressure, meminfo: meminfo, pids: pids, pidCount: pidCount) }

        kernelLog(b)

        // The same bytes as a recording (its snapshots evaluated up to the same size).
        if let first = b.first, first == UInt8(ascii: "{") {
            runRecording(String(decoding: b, as: UTF8.self), evaluate: b.count <= evaluatedSize)
        }
    }

    /// The bytes as /dev/kmsg records (one per line that does not start with
    /// a space, its dictionary lines with it), their OOM lines through the
    /// assembler, the reports through the OOM watcher, the events shown.
    static func kernelLog(_ b: Bytes) {
        var records: [KernelLogRecord] = []
        var start = 0
        var i = 0
        while i <= b.count && records.count < 256 {
            if i == b.count || (b[i] == 0x0a && i + 1 < b.count && b[i + 1] != 0x20) {
                let one = Bytes(rebasing: b[start..<i])
                do { records.append(try Parse.kernelLogRecord(one)) } catch { _ = error.description }
                start = i + 1
            }
            i += 1
        }
        var assembler = KernelOOMAssembler()
        var reports: [KernelOOMReport] = []
        for (n, r) in records.enumerated() {
            for line in [r.message] {
                if let summary = try? Parse.kernelOOMSummary(line), let limited = summary.oomGroup {
                    precondition(summary.taskGroup.isWithin(limited), "a summary's victim outside the limited group")
                }
                _ = try? Parse.kernelOOMKill(line)
            }
            reports += assembler.add(r, readNanos: UInt64(n))
        }
        reports += assembler.expire(nowNanos: .max)
        for e in assembler.takeMalformed() { _ = e.description }
        var watcher = OOMWatcher()
        let ev = MemoryEvents(KeyedCounters(["low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0]))
        let rose = MemoryEvents(KeyedCounters(["low": 0, "high": 1000, "max": 1000, "oom": 1, "oom_kill": 1]))
        // Each report's group as a group of the node, before and after its kill.
        let paths = Array(Set(reports.compactMap { $0.task.taskGroup ?? $0.task.oomGroup }).filter { !$0.isRoot }.prefix(32))
        func node(_ t: UInt64, _ e: MemoryEvents) -> Snapshot {
            Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: t, wallNanos: t),
                     system: SystemSnapshot(meminfo: MemInfo(memTotal: 1 << 30, memAvailable: 1 << 29, swapTotal: 0, swapFree: 0),
                                            pressure: nil, oomKill: nil),
                     cgroups: [CgroupSnapshot(path: .root, id: 1)] + paths.enumerated().map { k, p in
                         CgroupSnapshot(path: p, id: UInt64(10 + k), memory: MemoryState(current: 1, events: e, eventsLocal: e))
                     })
        }
        var events = watcher.observe(node(1_000_000_000, ev))
        for r in reports { events += watcher.kernelReport(r, at: Timestamp(monotonicNanos: 1_500_000_000, wallNanos: 0)) }
        events += watcher.observe(node(2_000_000_000, rose))
        events += watcher.expire(at: Timestamp(monotonicNanos: .max, wallNanos: .max))
        for e in events {
            _ = e.message
            _ = e.fields
            _ = e.json.serialized()
        }
    }

    static func evaluate(_ b: Bytes, number: UInt64?, limit: Limit?, integer: Int64?, statm: UInt64?, keyed: KeyedCounters?,
                         events: MemoryEvents?, stat: KeyedCounters?, cgroupStat: KeyedCounters?, vmstat: KeyedCounters?,
                         cgroupEvents: CgroupEvents?, pressure: Pressure?, meminfo: MemInfo?, pids: [Int32]?, pidCount: Int?) {
        var m = MemoryState(current: number ?? statm ?? 1 << 20, max: limit, high: limit, low: limit, min: limit,
                            peak: number, swapCurrent: number ?? statm, swapMax: limit, events: events,
                            eventsLocal: events, stat: stat ?? keyed)
        if m.stat == nil, let cgroupStat { m.stat = cgroupStat }
        var a = CgroupSnapshot(path: CgroupPath("/t/a")!, id: 3, memory: m, pressure: pressure, events: cgroupEvents,
                               nrProcs: pidCount, procs: pids, cgroupStat: cgroupStat,
                               attributes: CgroupAttributes(ownerUID: UInt32(truncatingIfNeeded: integer ?? 0),
                                                            values: ["user.oomd_avoid": "1"]))
        if a.procs == nil { a.procs = [1] }
        let system = SystemSnapshot(
            meminfo: meminfo ?? MemInfo(memTotal: number ?? 1 << 30, memAvailable: statm ?? 1 << 29,
                                        swapTotal: number ?? 0, swapFree: 0),
            pressure: pressure, oomKill: vmstat?["oom_kill"] ?? events?.oomKill)
        let quiet = MemoryState(current: 1 << 20, max: .bytes(2 << 20), high: .max, low: .bytes(0), min: .bytes(0),
                                peak: 1 << 20, swapCurrent: 0, swapMax: .max,
                                events: MemoryEvents(KeyedCounters(["low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0])),
                                eventsLocal: nil, stat: KeyedCounters(["anon": 1 << 20, "file": 0]))
        func groups(_ aMemory: CgroupSnapshot) -> [CgroupSnapshot] {
            [CgroupSnapshot(path: .root, id: 1, pressure: pressure, cgroupStat: cgroupStat),
             CgroupSnapshot(path: CgroupPath("/kubepods.slice")!, id: 10, memory: quiet),
             CgroupSnapshot(path: CgroupPath("/kubepods.slice/kubepods-burstable.slice")!, id: 11, memory: quiet),
             CgroupSnapshot(path: CgroupPath(pod)!, id: 12, memory: aMemory.memory, pressure: pressure, nrProcs: 1),
             CgroupSnapshot(path: CgroupPath("/t")!, id: 2, memory: m, pressure: pressure, events: cgroupEvents),
             aMemory,
             CgroupSnapshot(path: CgroupPath("/t/b")!, id: 4, memory: quiet, nrProcs: 1),
             CgroupSnapshot(path: CgroupPath("/t/protected")!, id: 5, memory: m, nrProcs: 1)]
        }
        var before = a
        before.memory = quiet
        before.pressure = nil
        let dt: UInt64 = b.count % 3 == 0 ? 1 : b.count % 3 == 1 ? 1_000_000_000 : UInt64.max / 2
        let s0 = Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: 1_000_000_000, wallNanos: number ?? 0),
                          system: system, cgroups: groups(before))
        let s1 = Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: 1_000_000_000 &+ dt, wallNanos: .max),
                          system: system, cgroups: groups(a))
        let processes = [CgroupPath("/t/a")!: [ProcessInfo(pid: Int32(truncatingIfNeeded: integer ?? 1), command: "fuzz",
                                                           rss: (statm ?? 0).multipliedSaturated(by: 4096),
                                                           oomScore: integer ?? 0, oomScoreAdj: integer ?? 0)]]
        evaluateAndShow([s0, s1], processes: processes, shownFrom: 1, variant: b.count)
        checkRecordRoundTrip(s1)
        checkFlightRecorder([s0, s1])
    }

    /// The flight recorder gives back what a replay reads of each snapshot.
    static func checkFlightRecorder(_ snapshots: [Snapshot]) {
        let windowNanos: UInt64 = 3600 * 1_000_000_000
        var recorder = FlightRecorder(window: .seconds(3600), maxBytes: 1 << 20)
        for s in snapshots { recorder.append(s) }
        let back = recorder.snapshots()
        // Snapshots older than the window go (the fuzzed clock may jump by
        // years); the newest always stays, and all of them within half the window.
        let span = (snapshots.last?.time.monotonicNanos ?? 0).subtractingSaturated(snapshots.first?.time.monotonicNanos ?? 0)
        precondition(!back.isEmpty && back.count <= snapshots.count, "the flight recorder lost the newest snapshot")
        precondition(span > windowNanos / 2 || back.count == snapshots.count, "the flight recorder lost a snapshot within its window")
        for (a, b) in zip(back, snapshots.suffix(back.count)) {
            precondition(a.recordJSON == FlightRecorder.projected(b).recordJSON, "the flight recorder gives back another snapshot")
        }
    }

    /// What `record` writes, `explain --replay` reads back to the same document.
    static func checkRecordRoundTrip(_ s: Snapshot) {
        let text = s.recordJSON.serialized()
        let decoded: Snapshot
        do {
            decoded = try Snapshot(json: JSON.parse(text))
        } catch {
            preconditionFailure("a recorded snapshot does not read back: \(error)")
        }
        precondition(decoded.recordJSON == s.recordJSON, "a recorded snapshot reads back different")
    }

    static let evaluatedSize = 64 << 10

    static func runRecording(_ text: String, evaluate: Bool) {
        let contents: Recording.Contents
        do { contents = try Recording.parse(text) } catch { _ = error.description; return }
        guard evaluate else { return }
        // Each distinct line is also a status document (bounded: a recording of many snapshots).
        evaluateAndShow(Array(contents.snapshots.prefix(64)), processes: nil, variant: text.utf8.count)
    }

    /// Evaluates every snapshot in order; shows the decisions and snapshots
    /// from `shownFrom` on (one status order each, by `variant`: the views
    /// cost more than everything else).
    static func evaluateAndShow(_ snapshots: [Snapshot], processes: [CgroupPath: [ProcessInfo]]?, shownFrom: Int = 0,
                                variant: Int = 0) {
        let config = configs[variant % configs.count]
        let evaluator = Evaluator(config: config, ownCgroup: CgroupPath("/t/b"), detail: .all)
        var state = PolicyState()
        for (i, s) in snapshots.enumerated() {
            let (d, next) = evaluator.evaluate(s, state: state)
            state = next
            if let v = d.victim, let g = config.guards.first(where: { $0.name == v.guardName }) {
                state.recordAction(guard: g, victim: v.path, id: v.id, at: d.time)
            }
            guard i >= shownFrom else { continue }
            _ = d.json.serialized()
            _ = ExplainView(decision: d, config: config, verbose: true).render()
            let sort = StatusSort.allCases[(variant + i) % StatusSort.allCases.count]
            _ = StatusView(snapshot: s, top: s.cgroups.first?.path ?? .root, sort: sort, processes: processes).render()
            _ = s.statusJSON(processes: processes).serialized(pretty: i % 2 == 0)
        }
    }
}

// MARK: - TOML

enum TOMLTarget {
    /// Two snapshots where every trigger can hold: a loaded configuration is
    /// evaluated and explained on them.
    static let snapshots: [Snapshot] = {
        let top = UInt64.max
        func g(_ path: String, _ id: UInt64, _ v: UInt64) -> CgroupSnapshot {
            let ev = MemoryEvents(KeyedCounters(["low": v, "high": v, "max": v, "oom": v, "oom_kill": v]))
            return CgroupSnapshot(
                path: CgroupPath(path)!, id: id,
                memory: MemoryState(current: v, max: .bytes(v), high: .bytes(v / 2), low: .bytes(v), min: .bytes(v / 3),
                                    peak: v, swapCurrent: v, swapMax: .max, events: ev, eventsLocal: ev,
                                    stat: KeyedCounters(["anon": v, "file": v, "shmem": v, "kernel": v])),
                pressure: Pressure(some: PressureLine(avg10: 100, avg60: 100), full: PressureLine(avg10: 100, avg60: 100)),
                events: CgroupEvents(populated: true, frozen: false), nrProcs: 1,
                attributes: CgroupAttributes(ownerUID: 0, values: ["trusted.oomd_prefer": "1"]))
        }
        func s(_ t: UInt64, _ v: UInt64) -> Snapshot {
            Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: t, wallNanos: t),
                     system: SystemSnapshot(meminfo: MemInfo(memTotal: top, memAvailable: v, swapTotal: top, swapFree: v),
                                            pressure: Pressure(some: PressureLine(avg10: 100), full: PressureLine(avg10: 100)),
                                            oomKill: v),
                     cgroups: [CgroupSnapshot(path: .root, id: 1), g("/a", 2, v), g("/a/b", 3, v), g("/system.slice", 4, 0),
                               g(KernelFilesTarget.pod, 5, v)])
        }
        return [s(0, 0), s(1, top), s(top, 1 << 30)]
    }()

    static func run(_ b: Bytes) {
        let text = String(decoding: b, as: UTF8.self)
        do { _ = try parseTOML(text, file: "fuzz.toml") } catch { _ = error.description }
        let config: Config
        do {
            config = try ConfigLoader.load([(name: "fuzz.toml", text: text)])
        } catch {
            _ = error.description
            return
        }
        for g in config.guards {
            for t in g.triggers { _ = t.description }
            _ = g.match.map(\.text)
        }
        let evaluator = Evaluator(config: config, ownCgroup: CgroupPath("/system.slice"), detail: .all)
        var state = PolicyState()
        for s in snapshots {
            let (d, next) = evaluator.evaluate(s, state: state)
            state = next
            if let v = d.victim, let g = config.guards.first(where: { $0.name == v.guardName }) {
                state.recordAction(guard: g, victim: v.path, id: v.id, at: d.time)
            }
            _ = d.json.serialized()
            _ = ExplainView(decision: d, config: config, verbose: true).render()
        }
    }
}

// MARK: - wire

enum WireTarget {
    static func run(_ b: Bytes) {
        let bytes = Array(b)
        do {
            let request = try HelperRequest.decode(bytes)
            // One layout: what decodes re-encodes to the same bytes.
            precondition(request.encoded() == bytes, "a request re-encodes differently")
            _ = request.action.description
        } catch {
            _ = error.description
        }
        do {
            let (id, reply) = try HelperReply.decode(bytes)
            let again = reply.encoded(requestID: id)
            do {
                let (id2, reply2) = try HelperReply.decode(again)
                precondition(id2 == id && reply2 == reply, "a reply does not survive a round trip")
            } catch {
                preconditionFailure("a re-encoded reply does not decode: \(error)")
            }
            describe(reply)
        } catch {
            _ = error.description
        }
        do {
            let launcher = try LauncherWire.decode(bytes)
            precondition(LauncherWire.encode(launcher) == bytes, "a launcher reply re-encodes differently")
            _ = launcher.previous?.description
        } catch {
            _ = error.description
        }
        _ = LauncherWire.isSpawnRequest(bytes)
    }

    /// The texts an operator sees of a reply.
    static func describe(_ reply: HelperReply) {
        switch reply {
        case .pong(let i): _ = i.own.description
        case .killed(let r), .incomplete(let r):
            _ = Units.size(r.memoryBefore ?? 0)
            _ = Units.size(r.memoryAfter ?? 0)
            _ = Units.decimal(Double(r.durationNanos) / 1e6, decimals: 1)
            _ = r.method.description
            _ = r.fallbackReason?.description
        case .refused(let why): _ = why.description
        case .failed(let f): _ = f.description
        case .checked(let c): _ = Units.size(c.memoryCurrent ?? 0)
        case .attributes(let a): _ = a.values.count
        case .error(let e): _ = e.description
        case .armed: break
        }
    }
}
