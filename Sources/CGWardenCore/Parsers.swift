/// Parsers for every kernel file cgwarden reads. They take text (bytes or a
/// `String`), never a path: the live reader, the fixture reader and the tests
/// share them. `file` names the file in errors; it defaults to the kernel name.
public enum Parse {

    // MARK: single values

    /// `memory.current`, `memory.peak`, `memory.swap.current`, `pids.current`:
    /// one unsigned number.
    public static func bytes(_ b: Bytes, file: String) throws(ParseError) -> UInt64 {
        if let v = simpleNumber(b) { return v }
        let t = trimmed(b)
        if t.isEmpty { throw ParseError(file: file, reason: .empty) }
        return try parseUInt64(t, file: file, line: 1, field: nil)
    }

    /// `memory.max`, `memory.high`, `memory.low`, `memory.min`,
    /// `memory.swap.max`, `pids.max`: a number or `max`.
    ///
    ///     max
    ///     67108864
    public static func limit(_ b: Bytes, file: String) throws(ParseError) -> Limit {
        if let v = simpleNumber(b) { return .bytes(v) }
        let t = trimmed(b)
        if t.isEmpty { throw ParseError(file: file, reason: .empty) }
        if t.count == 3 && t[0] == UInt8(ascii: "m") && t[1] == UInt8(ascii: "a") && t[2] == UInt8(ascii: "x") {
            return .max
        }
        return .bytes(try parseUInt64(t, file: file, line: 1, field: nil))
    }

    /// The kernel's text of one number, `digits\n` (1 to 19 digits, which
    /// cannot overflow); nil for anything else, which the general parser reads.
    @inline(__always) static func simpleNumber(_ b: Bytes) -> UInt64? {
        guard let p = b.baseAddress else { return nil }
        var n = b.count
        if n > 0 && p[n - 1] == ASCII.newline { n -= 1 }
        guard n > 0 && n <= 19 else { return nil }
        var v: UInt64 = 0
        for i in 0..<n {
            let d = p[i] &- ASCII.zero
            if d > 9 { return nil }
            v = v &* 10 &+ UInt64(d)
        }
        return v
    }

    /// `/proc/PID/oom_score_adj` (-1000...1000), `/proc/PID/oom_score`: a signed integer.
    public static func integer(_ b: Bytes, file: String) throws(ParseError) -> Int64 {
        let t = trimmed(b)
        if t.isEmpty { throw ParseError(file: file, reason: .empty) }
        let negative = t[0] == ASCII.minus
        let magnitude = try parseUInt64(negative ? slice(t, 1, t.count) : t, file: file, line: 1, field: nil)
        guard magnitude <= UInt64(Int64.max) else {
            throw ParseError(file: file, line: 1, reason: .overflow(text(t)))
        }
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }

    /// `/proc/PID/statm`: `size resident shared text lib data dt`, in pages;
    /// returns `resident`.
    ///
    ///     2657 1664 1386 244 0 312 0
    public static func statmResidentPages(_ b: Bytes, file: String = "statm") throws(ParseError) -> UInt64 {
        let t = trimmed(b)
        if t.isEmpty { throw ParseError(file: file, reason: .empty) }
        var f = Fields(t)
        guard f.next() != nil, let resident = f.next() else {
            throw ParseError(file: file, line: 1, reason: .malformedLine(text(t)))
        }
        return try parseUInt64(resident, file: file, line: 1, field: "resident")
    }

    // MARK: keyed files

    /// A flat `key value` file: `memory.stat`, `memory.events`, `cgroup.stat`,
    /// `/proc/vmstat`. Every key is kept, in order; `required` keys must be present.
    public static func keyed(_ b: Bytes, file: String, required: [String] = []) throws(ParseError) -> KeyedCounters {
        if let (out, _) = simpleKeyed(b), required.allSatisfy({ out.contains($0) }) { return out }
        return try generalKeyed(b, file: file, required: required)
    }

    /// `keyed` for a file of the common shape (`scanSimpleKeyed`), nil for
    /// any other (or a key written twice): the general parser then decides.
    /// Keys in the order of `KnownKeys.all` from its start (memory.events)
    /// share one array (`prefix`).
    static func simpleKeyed(_ b: Bytes) -> (counters: KeyedCounters, prefix: Bool)? {
        var values: [UInt64] = []
        values.reserveCapacity(Swift.max(8, b.count / 16))
        var keys: [String] = []
        var prefix = true
        var seen = SeenKeys()
        // Read once, not per line: each read of a global is a call and a retain.
        let table = KnownKeys.table, longestPrefix = KnownKeys.prefixes.count - 1
        let ok = scanSimpleKeyed(b) { number, k, v in
            let known: Int?
            if prefix && number < longestPrefix && KnownKeys.matches(k, number, in: table) {
                known = number
            } else {
                known = KnownKeys.index(k)
                let key = known.map { KnownKeys.all[$0] } ?? text(k)
                if prefix {
                    prefix = false
                    keys.reserveCapacity(values.capacity)
                    keys += KnownKeys.all[0..<number]
                }
                keys.append(key)
            }
            if let known {
                if !seen.insert(known: known) { return false }
            } else if !seen.insert(keys[number], known: nil) {
                return false
            }
            values.append(v)
            return true
        }
        guard ok else { return nil }
        return (KeyedCounters(keys: prefix ? KnownKeys.prefixes[values.count] : keys, values: values), prefix)
    }

    static func generalKeyed(_ b: Bytes, file: String, required: [String]) throws(ParseError) -> KeyedCounters {
        var out = KeyedCounters()
        out.reserveCapacity(8)
        var seen = SeenKeys()
        try forEachLine(b) { (number, line) throws(ParseError) in
            var f = Fields(line)
            guard let k = f.next(), let value = f.next(), f.next() == nil else {
                throw ParseError(file: file, line: number, reason: .malformedLine(text(line)))
            }
            let known = KnownKeys.index(k)
            let key = known.map { KnownKeys.all[$0] } ?? text(k)
            let v = try parseUInt64(value, file: file, line: number, field: key)
            if !seen.insert(key, known: known) {
                throw ParseError(file: file, line: number, field: key, reason: .duplicateKey(key))
            }
            out.append(key, v)
        }
        if out.isEmpty && !required.isEmpty { throw ParseError(file: file, reason: .empty) }
        for k in required where !out.contains(k) {
            throw ParseError(file: file, reason: .missingKey(k))
        }
        return out
    }

    /// The keys every kernel since 4.13 writes to `memory.events`; a file
    /// without them was cut short. (`oom_group_kill` came in 5.17 and is optional.)
    public static let memoryEventsKeys = ["low", "high", "max", "oom", "oom_kill"]

    /// `memory.events` exactly as the kernel writes it: `low`, `high`, `max`,
    /// `oom`, `oom_kill`, then `oom_group_kill` (5.17+) and `sock_throttled`,
    /// each `key digits\n` (1 to 19 digits, which cannot overflow), keys
    /// compared byte by byte in place; nil for anything else (another order,
    /// another key, other spacing), which `simpleKeyed` and the general
    /// parser then read. Two of these files per group at every snapshot.
    static func standardEvents(_ b: Bytes) -> MemoryEvents? {
        guard let p = b.baseAddress else { return nil }
        let n = b.count
        // On the stack: no array per file.
        var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0)
        var count = 0
        let ok = standardEventsTemplate.withUnsafeBufferPointer { template -> Bool in
            let key = template.baseAddress!
            var i = 0, t = 0
            while i < n && count < MemoryEvents.standardKeys {
                // The key and its space, against the template's next key and space.
                repeat {
                    guard i < n, p[i] == key[t] else { return false }
                    i += 1
                    t += 1
                } while key[t - 1] != ASCII.space
                var number = SimpleCursor(p: p, n: n, i: i)
                guard let (v, _) = number.digits(), number.i < n, p[number.i] == ASCII.newline else { return false }
                i = number.i + 1
                withUnsafeMutableBytes(of: &values) { $0.storeBytes(of: v, toByteOffset: count * 8, as: UInt64.self) }
                count += 1
            }
            return i == n
        }
        guard ok, count >= memoryEventsKeys.count else { return nil }
        return MemoryEvents(low: values.0, high: values.1, max: values.2, oom: values.3, oomKill: values.4,
                            oomGroupKill: count > 5 ? values.5 : nil, sockThrottled: count > 6 ? values.6 : nil)
    }

    /// The keys of `standardEvents` in the kernel's order, each with its
    /// space (the first of `KnownKeys.all`).
    static let standardEventsTemplate = Array(KnownKeys.all[0..<MemoryEvents.standardKeys].map { $0 + " " }.joined().utf8)

    /// `memory.events` or `memory.events.local`.
    public static func memoryEvents(_ b: Bytes, file: String = "memory.events") throws(ParseError) -> MemoryEvents {
        if let events = standardEvents(b) { return events }
        // The required keys are the first five of `KnownKeys.all`.
        if let (all, prefix) = simpleKeyed(b), all.count >= 5 {
            // low, high, max, oom, oom_kill[, oom_group_kill[, ...]] in this order.
            if prefix { return MemoryEvents(standardOrder: all) }
            if all.keys.starts(with: KnownKeys.prefixes[5]) || memoryEventsKeys.allSatisfy({ all.contains($0) }) {
                return MemoryEvents(all)
            }
        }
        return MemoryEvents(try generalKeyed(b, file: file, required: memoryEventsKeys))
    }

    /// `memory.stat` (`anon`, `file`, `shmem`, `kernel`, `pgscan`, ... in bytes or counts).
    public static func memoryStat(_ b: Bytes, file: String = "memory.stat") throws(ParseError) -> KeyedCounters {
        try keyed(b, file: file, required: ["anon", "file"])
    }

    /// `memory.stat` as `memoryStat` reads it (the same errors), reduced to
    /// `MemoryState.statSummary`.
    public static func memoryStatSummary(_ b: Bytes, file: String = "memory.stat") throws(ParseError) -> KeyedCounters {
        if let summary = statSummaryInPlace(b) { return summary }
        return MemoryState.statSummary(try memoryStat(b, file: file))
    }

    /// The summary of a `memory.stat` of the common shape (`scanSimpleKeyed`)
    /// whose every key is known (`KnownKeys`) and written once, with `anon`
    /// and `file`: what `memoryStat` would read, summed as it comes, with no
    /// array of ~50 counters and keys per group (the daemon reads this file
    /// for every group at every snapshot). nil for anything else: the whole
    /// parse then decides, with its errors.
    static func statSummaryInPlace(_ b: Bytes) -> KeyedCounters? {
        var seen = SeenKeys()
        var anon: UInt64?, file = false, shmem: UInt64 = 0
        var kernel: UInt64?, kernelStack: UInt64?, pagetables: UInt64?, slabUnreclaimable: UInt64?
        let keys = StatSummaryKeys.shared, table = KnownKeys.table
        let ok = scanSimpleKeyed(b) { _, k, v in
            guard let known = KnownKeys.index(k, in: table), seen.insert(known: known) else { return false }
            switch known {
            case keys.anon: anon = v
            case keys.file: file = true
            case keys.shmem: shmem = v
            case keys.kernel: kernel = v
            case keys.kernelStack: kernelStack = v
            case keys.pagetables: pagetables = v
            case keys.slabUnreclaimable: slabUnreclaimable = v
            default: break
            }
            return true
        }
        guard ok, let anon, file else { return nil }
        return KeyedCounters(keys: MemoryState.summaryKeys,
                             values: [anon, shmem, MemoryState.kernel(kernel: kernel, kernelStack: kernelStack,
                                                                      pagetables: pagetables, slabUnreclaimable: slabUnreclaimable)])
    }

    /// Where the keys `statSummaryInPlace` reads are in `KnownKeys.all`.
    struct StatSummaryKeys {
        let anon, file, shmem, kernel, kernelStack, pagetables, slabUnreclaimable: Int
        static let shared: StatSummaryKeys = {
            func at(_ k: String) -> Int { KnownKeys.all.firstIndex(of: k)! }
            return StatSummaryKeys(anon: at("anon"), file: at("file"), shmem: at("shmem"), kernel: at("kernel"),
                                   kernelStack: at("kernel_stack"), pagetables: at("pagetables"),
                                   slabUnreclaimable: at("slab_unreclaimable"))
        }()
    }

    /// `cgroup.stat`: `nr_descendants`, `nr_dying_descendants`, and newer keys.
    public static func cgroupStat(_ b: Bytes, file: String = "cgroup.stat") throws(ParseError) -> KeyedCounters {
        try keyed(b, file: file, required: ["nr_descendants", "nr_dying_descendants"])
    }

    /// `/proc/vmstat`; `oom_kill` (kernel 4.13+) counts every OOM kill on the node.
    public static func vmstat(_ b: Bytes, file: String = "/proc/vmstat") throws(ParseError) -> KeyedCounters {
        try keyed(b, file: file, required: ["nr_free_pages"])
    }

    /// `cgroup.events`:
    ///
    ///     populated 1
    ///     frozen 0
    public static func cgroupEvents(_ b: Bytes, file: String = "cgroup.events") throws(ParseError) -> CgroupEvents {
        // Common shape, known keys only: no counters built.
        var populated: UInt64?, frozen: UInt64?
        let simple = scanSimpleKeyed(b) { _, k, v in
            if equals(k, "populated") && populated == nil {
                populated = v
            } else if equals(k, "frozen") && frozen == nil {
                frozen = v
            } else {
                return false
            }
            return true
        }
        if simple, let populated { return CgroupEvents(populated: populated != 0, frozen: frozen.map { $0 != 0 }) }
        let k = try keyed(b, file: file, required: ["populated"])
        return CgroupEvents(populated: k["populated"]! != 0, frozen: k["frozen"].map { $0 != 0 })
    }

    // MARK: PSI

    /// A PSI file:
    ///
    ///     some avg10=0.00 avg60=0.00 avg300=0.00 total=0
    ///     full avg10=1.59 avg60=0.35 avg300=0.08 total=140941
    ///
    /// `some` is required; `full` is optional (older kernels omit it for the
    /// system-wide cpu file). Unknown `key=value` pairs a newer kernel might add are ignored.
    public static func pressure(_ b: Bytes, file: String = "memory.pressure") throws(ParseError) -> Pressure {
        if let p = simplePressure(b) { return p }
        return try generalPressure(b, file: file)
    }

    static func generalPressure(_ b: Bytes, file: String) throws(ParseError) -> Pressure {
        var some: PressureLine?
        var full: PressureLine?
        try forEachLine(b) { (number, line) throws(ParseError) in
            var f = Fields(line)
            guard let kind = f.next(), equals(kind, "some") || equals(kind, "full") else {
                throw ParseError(file: file, line: number, reason: .malformedLine(text(line)))
            }
            let parsed = try pressureLine(&f, file: file, line: number, wholeLine: line)
            if equals(kind, "some") {
                if some != nil { throw ParseError(file: file, line: number, reason: .duplicateKey("some")) }
                some = parsed
            } else {
                if full != nil { throw ParseError(file: file, line: number, reason: .duplicateKey("full")) }
                full = parsed
            }
        }
        guard let some else {
            if full == nil { throw ParseError(file: file, reason: .empty) }
            throw ParseError(file: file, reason: .missingKey("some"))
        }
        return Pressure(some: some, full: full)
    }

    /// `pressure` for the exact text the kernel writes (`some` then
    /// optionally `full`, the four pairs in order, `%lu.%02lu` averages);
    /// nil for anything else, which the general parser then reads.
    static func simplePressure(_ b: Bytes) -> Pressure? {
        guard let p = b.baseAddress else { return nil }
        var r = SimpleCursor(p: p, n: b.count)
        guard r.literal("some"), let some = r.pressureLine() else { return nil }
        var full: PressureLine?
        if !r.atEnd {
            guard r.literal("full"), let f = r.pressureLine() else { return nil }
            full = f
        }
        return r.atEnd ? Pressure(some: some, full: full) : nil
    }

    private static func pressureLine(_ pairs: inout Fields, file: String, line: Int, wholeLine: Bytes) throws(ParseError) -> PressureLine {
        var avg10: Double?, avg60: Double?, avg300: Double?, total: UInt64?
        while let pair = pairs.next() {
            guard let eq = pair.firstIndex(of: ASCII.equals) else {
                throw ParseError(file: file, line: line, reason: .malformedLine(text(wholeLine)))
            }
            let key = slice(pair, 0, eq)
            let value = slice(pair, eq + 1, pair.count)
            if equals(key, "avg10") {
                avg10 = try parseDecimal(value, file: file, line: line, field: "avg10")
            } else if equals(key, "avg60") {
                avg60 = try parseDecimal(value, file: file, line: line, field: "avg60")
            } else if equals(key, "avg300") {
                avg300 = try parseDecimal(value, file: file, line: line, field: "avg300")
            } else if equals(key, "total") {
                total = try parseUInt64(value, file: file, line: line, field: "total")
            }
        }
        guard let avg10 else { throw ParseError(file: file, line: line, reason: .missingKey("avg10")) }
        guard let avg60 else { throw ParseError(file: file, line: line, reason: .missingKey("avg60")) }
        guard let avg300 else { throw ParseError(file: file, line: line, reason: .missingKey("avg300")) }
        guard let total else { throw ParseError(file: file, line: line, reason: .missingKey("total")) }
        return PressureLine(avg10: avg10, avg60: avg60, avg300: avg300, total: total)
    }

    // MARK: /proc/meminfo

    /// `/proc/meminfo`, every line converted to bytes where the unit is kB:
    ///
    ///     MemTotal:        2014464 kB
    ///     MemAvailable:    1780520 kB
    ///     HugePages_Total:       0
    public static func meminfo(_ b: Bytes, file: String = "/proc/meminfo") throws(ParseError) -> MemInfo {
        var all = KeyedCounters()
        var seen = SeenKeys()
        try forEachLine(b) { (number, line) throws(ParseError) in
            guard let colon = line.firstIndex(of: ASCII.colon), colon > 0 else {
                throw ParseError(file: file, line: number, reason: .malformedLine(text(line)))
            }
            let key = text(slice(line, 0, colon))
            let f = fields(slice(line, colon + 1, line.count))
            guard f.count == 1 || (f.count == 2 && text(f[1]) == "kB") else {
                throw ParseError(file: file, line: number, reason: .malformedLine(text(line)))
            }
            var v = try parseUInt64(f[0], file: file, line: number, field: key)
            if f.count == 2 {
                let (m, o) = v.multipliedReportingOverflow(by: 1024)
                if o { throw ParseError(file: file, line: number, field: key, reason: .overflow(text(f[0]))) }
                v = m
            }
            if !seen.insert(key, known: nil) { throw ParseError(file: file, line: number, field: key, reason: .duplicateKey(key)) }
            all.append(key, v)
        }
        if all.isEmpty { throw ParseError(file: file, reason: .empty) }
        func need(_ k: String) throws(ParseError) -> UInt64 {
            guard let v = all[k] else { throw ParseError(file: file, reason: .missingKey(k)) }
            return v
        }
        return MemInfo(memTotal: try need("MemTotal"), memAvailable: try need("MemAvailable"),
                       swapTotal: try need("SwapTotal"), swapFree: try need("SwapFree"), all: all)
    }

    // MARK: /proc/PID/cgroup

    /// The cgroup v2 path of a process, from `/proc/PID/cgroup`: the `0::` line.
    ///
    ///     12:memory:/user.slice        (v1 lines on a hybrid host, first)
    ///     0::/system.slice/cgwarden.service
    ///
    /// The kernel prints the path's bytes as they are, and the v2 line comes
    /// last: the path runs from `0::` to the file's final newline (a name
    /// may hold anything but `/` and NUL; the kernel refuses newlines in new
    /// cgroup names, fixture trees need not). A path outside the reader's
    /// cgroup namespace (`/../x`) is malformed here: not ours to name.
    /// nil when the process is in no v2 hierarchy.
    public static func procCgroup(_ b: Bytes, file: String = "/proc/self/cgroup") throws(ParseError) -> CgroupPath? {
        // The start of the v2 line: at the file's start, or after a newline.
        var start: Int?
        var line = 1, v2Line = 1
        for i in 0..<b.count {
            let atLineStart = i == 0 || b[i - 1] == ASCII.newline
            if i > 0 && b[i - 1] == ASCII.newline { line += 1 }
            if atLineStart, i + 2 < b.count, b[i] == ASCII.zero, b[i + 1] == ASCII.colon, b[i + 2] == ASCII.colon {
                start = i + 3
                v2Line = line
                break
            }
        }
        guard let start else { return nil }
        var end = b.count
        if end > start && b[end - 1] == ASCII.newline { end -= 1 }
        let raw = Array(slice(b, start, end))
        guard raw.first == CgroupPath.slash else {
            throw ParseError(file: file, line: v2Line, reason: .malformedLine(text(slice(b, start, end))))
        }
        switch HelperPath.parse(Array(raw.dropFirst())) {
        case .success(let p): return p
        case .failure: throw ParseError(file: file, line: v2Line, reason: .malformedLine(PathText.escape(raw[...])))
        }
    }

    // MARK: lists

    /// `cgroup.procs` / `cgroup.threads`: one pid per line; empty when no process lives there.
    public static func pids(_ b: Bytes, file: String = "cgroup.procs") throws(ParseError) -> [Int32] {
        var out: [Int32] = []
        try forEachLine(b) { (number, line) throws(ParseError) in
            let v = try parseUInt64(line, file: file, line: number, field: "pid")
            guard v > 0, v <= UInt64(Int32.max) else {
                throw ParseError(file: file, line: number, field: "pid", reason: .overflow(text(line)))
            }
            out.append(Int32(v))
        }
        return out
    }

    /// Counts the lines of `cgroup.procs` without building the list.
    public static func pidCount(_ b: Bytes, file: String = "cgroup.procs") throws(ParseError) -> Int {
        var n = 0
        var sawDigit = false
        for c in b {
            if c == ASCII.newline {
                if sawDigit { n += 1 }
                sawDigit = false
            } else if ASCII.isDigit(c) {
                sawDigit = true
            } else if !ASCII.isBlank(c) {
                // Not a plain list: the full parser gives the precise error.
                return try pids(b, file: file).count
            }
        }
        return sawDigit ? n + 1 : n
    }

    /// Whether `cgroup.controllers` / `cgroup.subtree_control` lists
    /// `name`: `controllers(b).contains(name)`, without building the list
    /// when every byte is one a valid list may hold.
    public static func listsController(_ b: Bytes, _ name: StaticString, file: String = "cgroup.controllers") throws(ParseError) -> Bool {
        let plain = b.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_") || ASCII.isDigit($0)
            || ASCII.isBlank($0) || $0 == ASCII.newline }
        guard plain else { return try controllers(b, file: file).contains(String(describing: name)) }
        var found = false
        forEachLine(b) { _, line in
            for f in Fields(line) where equals(f, name) { found = true }
        }
        return found
    }

    /// `cgroup.controllers` / `cgroup.subtree_control`: space-separated names.
    ///
    ///     cpuset cpu io memory hugetlb pids rdma misc
    public static func controllers(_ b: Bytes, file: String = "cgroup.controllers") throws(ParseError) -> [String] {
        var out: [String] = []
        try forEachLine(b) { (number, line) throws(ParseError) in
            for f in fields(line) {
                let ok = f.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_") || ASCII.isDigit($0) }
                if !ok { throw ParseError(file: file, line: number, reason: .malformedLine(text(line))) }
                out.append(text(f))
            }
        }
        return out
    }
}

// MARK: String entry points (tests, fixtures, replay)

extension Parse {
    public static func bytes(_ s: String, file: String) throws(ParseError) -> UInt64 {
        try s.withBytes { b throws(ParseError) in try bytes(b, file: file) }
    }
    public static func limit(_ s: String, file: String) throws(ParseError) -> Limit {
        try s.withBytes { b throws(ParseError) in try limit(b, file: file) }
    }
    public static func integer(_ s: String, file: String) throws(ParseError) -> Int64 {
        try s.withBytes { b throws(ParseError) in try integer(b, file: file) }
    }
    public static func statmResidentPages(_ s: String, file: String = "statm") throws(ParseError) -> UInt64 {
        try s.withBytes { b throws(ParseError) in try statmResidentPages(b, file: file) }
    }
    public static func keyed(_ s: String, file: String, required: [String] = []) throws(ParseError) -> KeyedCounters {
        try s.withBytes { b throws(ParseError) in try keyed(b, file: file, required: required) }
    }
    public static func memoryEvents(_ s: String, file: String = "memory.events") throws(ParseError) -> MemoryEvents {
        try s.withBytes { b throws(ParseError) in try memoryEvents(b, file: file) }
    }
    public static func memoryStat(_ s: String, file: String = "memory.stat") throws(ParseError) -> KeyedCounters {
        try s.withBytes { b throws(ParseError) in try memoryStat(b, file: file) }
    }
    public static func memoryStatSummary(_ s: String, file: String = "memory.stat") throws(ParseError) -> KeyedCounters {
        try s.withBytes { b throws(ParseError) in try memoryStatSummary(b, file: file) }
    }
    public static func cgroupStat(_ s: String, file: String = "cgroup.stat") throws(ParseError) -> KeyedCounters {
        try s.withBytes { b throws(ParseError) in try cgroupStat(b, file: file) }
    }
    public static func vmstat(_ s: String, file: String = "/proc/vmstat") throws(ParseError) -> KeyedCounters {
        try s.withBytes { b throws(ParseError) in try vmstat(b, file: file) }
    }
    public static func cgroupEvents(_ s: String, file: String = "cgroup.events") throws(ParseError) -> CgroupEvents {
        try s.withBytes { b throws(ParseError) in try cgroupEvents(b, file: file) }
    }
    public static func pressure(_ s: String, file: String = "memory.pressure") throws(ParseError) -> Pressure {
        try s.withBytes { b throws(ParseError) in try pressure(b, file: file) }
    }
    public static func meminfo(_ s: String, file: String = "/proc/meminfo") throws(ParseError) -> MemInfo {
        try s.withBytes { b throws(ParseError) in try meminfo(b, file: file) }
    }
    public static func pids(_ s: String, file: String = "cgroup.procs") throws(ParseError) -> [Int32] {
        try s.withBytes { b throws(ParseError) in try pids(b, file: file) }
    }
    public static func pidCount(_ s: String, file: String = "cgroup.procs") throws(ParseError) -> Int {
        try s.withBytes { b throws(ParseError) in try pidCount(b, file: file) }
    }
    public static func procCgroup(_ s: String, file: String = "/proc/self/cgroup") throws(ParseError) -> CgroupPath? {
        try s.withBytes { b throws(ParseError) in try procCgroup(b, file: file) }
    }
    public static func controllers(_ s: String, file: String = "cgroup.controllers") throws(ParseError) -> [String] {
        try s.withBytes { b throws(ParseError) in try controllers(b, file: file) }
    }
}

/// A cursor over the exact text of a kernel file, for the fast paths: each
/// step matches or fails (nil/false), never throws.
struct SimpleCursor {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0

    var atEnd: Bool { i == n }

    @inline(__always) mutating func literal(_ s: StaticString) -> Bool {
        let c = s.utf8CodeUnitCount
        guard n - i >= c, memeq(p + i, s.utf8Start, c) else { return false }
        i += c
        return true
    }

    /// 1 to 19 digits.
    @inline(__always) mutating func digits() -> (value: UInt64, count: Int)? {
        let start = i
        var v: UInt64 = 0
        while i < n {
            let d = p[i] &- ASCII.zero
            if d > 9 { break }
            v = v &* 10 &+ UInt64(d)
            i += 1
        }
        let count = i - start
        return count > 0 && count <= 19 ? (v, count) : nil
    }

    /// `W.F` with 1 to 12 whole and 1 to 6 fraction digits, computed as
    /// `parseDecimal` does (one division of exact integers).
    @inline(__always) mutating func decimal() -> Double? {
        guard let (w, wc) = digits(), wc <= 12, i < n, p[i] == ASCII.dot else { return nil }
        i += 1
        guard let (f, fc) = digits(), fc <= 6 else { return nil }
        var scale: UInt64 = 1
        for _ in 0..<fc { scale *= 10 }
        return Double(w * scale + f) / Double(scale)
    }

    /// ` avg10=A avg60=B avg300=C total=T` and the line's end.
    mutating func pressureLine() -> PressureLine? {
        guard literal(" avg10="), let a10 = decimal(), literal(" avg60="), let a60 = decimal(),
              literal(" avg300="), let a300 = decimal(), literal(" total="), let (total, _) = digits() else { return nil }
        if i < n {
            guard p[i] == ASCII.newline else { return nil }
            i += 1
        }
        return PressureLine(avg10: a10, avg60: a60, avg300: a300, total: total)
    }
}
