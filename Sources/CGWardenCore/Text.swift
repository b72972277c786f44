/// Byte-level helpers shared by the kernel-file parsers.
///
/// Kernel control files are ASCII, one record per line, fields separated by
/// spaces (or, in /proc/meminfo, a colon and spaces). Parsing bytes directly,
/// rather than building a `String` per file and per line, keeps a walk of
/// 10,000 cgroups cheap (see Docs/performance.md).
public typealias Bytes = UnsafeBufferPointer<UInt8>

enum ASCII {
    static let newline = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let cr = UInt8(ascii: "\r")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let dot = UInt8(ascii: ".")
    static let minus = UInt8(ascii: "-")
    static let equals = UInt8(ascii: "=")
    static let colon = UInt8(ascii: ":")

    @inline(__always) static func isBlank(_ c: UInt8) -> Bool { c == space || c == tab || c == cr }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= zero && c <= nine }
}

extension String {
    /// Runs `body` over the UTF-8 bytes of the string without copying when possible.
    @inlinable
    public func withBytes<R, E: Error>(_ body: (Bytes) throws(E) -> R) throws(E) -> R {
        var result: Result<R, E>?
        _ = utf8.withContiguousStorageIfAvailable { b in
            result = Result { () throws(E) -> R in try body(b) }
        }
        if result == nil {
            let copy = Array(utf8)
            copy.withUnsafeBufferPointer { b in result = Result { () throws(E) -> R in try body(b) } }
        }
        return try result!.get()
    }
}

@inline(__always) func text(_ b: Bytes) -> String { String(decoding: b, as: UTF8.self) }

@inline(__always) func slice(_ b: Bytes, _ from: Int, _ to: Int) -> Bytes {
    Bytes(rebasing: b[from..<to])
}

/// Trims blanks (space, tab, CR) at both ends.
func trimmed(_ b: Bytes) -> Bytes {
    var lo = 0, hi = b.count
    while lo < hi && (ASCII.isBlank(b[lo]) || b[lo] == ASCII.newline) { lo += 1 }
    while hi > lo && (ASCII.isBlank(b[hi - 1]) || b[hi - 1] == ASCII.newline) { hi -= 1 }
    return slice(b, lo, hi)
}

/// Calls `body(lineNumber, line)` for every non-empty line (1-based numbers;
/// blank lines are counted but not passed).
func forEachLine<E: Error>(_ b: Bytes, _ body: (Int, Bytes) throws(E) -> Void) throws(E) {
    var start = 0, number = 1
    var i = 0
    let n = b.count
    while i <= n {
        if i == n || b[i] == ASCII.newline {
            let line = trimmed(slice(b, start, i))
            if !line.isEmpty { try body(number, line) }
            number += 1
            start = i + 1
        }
        i += 1
    }
}

/// The fields of a line, separated by runs of blanks, without allocating.
struct Fields: IteratorProtocol, Sequence {
    let line: Bytes
    var i = 0

    init(_ line: Bytes) { self.line = line }

    mutating func next() -> Bytes? {
        let n = line.count
        while i < n && ASCII.isBlank(line[i]) { i += 1 }
        let start = i
        while i < n && !ASCII.isBlank(line[i]) { i += 1 }
        return i > start ? slice(line, start, i) : nil
    }
}

/// Splits a line into fields (allocates: for the few parsers that need all fields).
func fields(_ line: Bytes) -> [Bytes] { Array(Fields(line)) }

@inline(__always) func equals(_ b: Bytes, _ s: StaticString) -> Bool {
    guard b.count == s.utf8CodeUnitCount else { return false }
    let p = s.utf8Start
    for i in 0..<b.count where b[i] != p[i] { return false }
    return true
}

/// Keys of the keyed files, as `String`s made once: the parsers return these
/// instead of decoding the same few names again for every group and sample.
enum KnownKeys {
    static let all: [String] = [
        // memory.events
        "low", "high", "max", "oom", "oom_kill", "oom_group_kill", "sock_throttled",
        // cgroup.events, cgroup.stat
        "populated", "frozen", "nr_descendants", "nr_dying_descendants",
        // memory.stat (the common part)
        "anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock", "vmalloc",
        "shmem", "zswap", "zswapped", "file_mapped", "file_dirty", "file_writeback", "swapcached",
        "anon_thp", "file_thp", "shmem_thp", "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable", "slab_reclaimable", "slab_unreclaimable", "slab", "workingset_refault_anon",
        "workingset_refault_file", "workingset_activate_anon", "workingset_activate_file",
        "workingset_restore_anon", "workingset_restore_file", "workingset_nodereclaim", "pgscan", "pgsteal",
        "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "pgfault", "pgmajfault",
        "pgrefill", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
        "thp_collapse_alloc",
        // memory.stat of 6.1 and later kernels
        "zswpin", "zswpout", "zswpwb", "thp_swpout", "thp_swpout_fallback", "pgscan_khugepaged",
        "pgsteal_khugepaged", "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged", "pgpromote_success",
        "swpin_zero", "swpout_zero", "hugetlb",
    ]
    /// `all[0..<n]` for n in 0...8, made once: files whose keys come in this
    /// order (memory.events) share them.
    static let prefixes: [[String]] = (0...8).map { Array(all[0..<$0]) }

    /// Every key's bytes, one after the other; `start[i]..<start[i + 1]` is key i.
    static let table: (bytes: [UInt8], start: [Int], slots: [Int16]) = {
        var bytes: [UInt8] = [], start = [0]
        for k in all {
            bytes += k.utf8
            start.append(bytes.count)
        }
        // Open addressing, a quarter full: a probe is almost always one slot.
        var slots = [Int16](repeating: -1, count: slotCount)
        for (i, k) in all.enumerated() {
            var s = Array(k.utf8).withUnsafeBufferPointer { hash($0) }
            while slots[s] >= 0 { s = (s + 1) & (slotCount - 1) }
            slots[s] = Int16(i)
        }
        return (bytes, start, slots)
    }()
    static let slotCount = 512

    @inline(__always) static func hash(_ b: Bytes) -> Int {
        var h: UInt32 = 2166136261
        for c in b { h = (h ^ UInt32(c)) &* 16777619 }
        return Int((h ^ (h >> 15)) & UInt32(slotCount - 1))
    }

    /// Whether `b` spells key `i`.
    @inline(__always) static func matches(_ b: Bytes, _ i: Int, in t: (bytes: [UInt8], start: [Int], slots: [Int16])) -> Bool {
        let s = t.start[i], e = t.start[i + 1]
        guard e - s == b.count else { return false }
        return t.bytes.withUnsafeBufferPointer { k in memeq(k.baseAddress! + s, b.baseAddress!, b.count) }
    }

    /// The index in `all` of the key spelled by `b`, or nil for another key.
    static func index(_ b: Bytes) -> Int? { index(b, in: table) }

    /// `index` with the table read once by the caller (a read of the global
    /// is a call and three retains: per line of a 50-line file, they add up).
    @inline(__always) static func index(_ b: Bytes, in t: (bytes: [UInt8], start: [Int], slots: [Int16])) -> Int? {
        if b.isEmpty { return nil }
        var s = hash(b)
        while true {
            let i = Int(t.slots[s])
            if i < 0 { return nil }
            if matches(b, i, in: t) { return i }
            s = (s + 1) & (slotCount - 1)
        }
    }

    static func string(_ b: Bytes) -> String {
        index(b).map { all[$0] } ?? text(b)
    }
}

@inline(__always) func memeq(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for i in 0..<n where a[i] != b[i] { return false }
    return true
}

/// The common shape of a flat keyed file, in one pass over the bytes: every
/// line `key value\n` with one space, a key of no blanks and a value of 1 to
/// 19 digits (which cannot overflow). Calls `line(lineIndex, key, value)` for
/// each; returns false at the first line of any other shape (blank lines,
/// tabs, CR, a sign, 20 digits, an empty file) or when `line` returns false:
/// the caller then reads the file with the general parser, which gives the
/// same result or the precise error.
@inline(__always)
func scanSimpleKeyed(_ b: Bytes, _ line: (Int, Bytes, UInt64) -> Bool) -> Bool {
    guard let p = b.baseAddress, b.count > 0 else { return false }
    let n = b.count
    var i = 0, number = 0
    while i < n {
        let keyStart = i
        while i < n && p[i] != ASCII.space {
            let c = p[i]
            if c == ASCII.newline || c == ASCII.tab || c == ASCII.cr { return false }
            i += 1
        }
        if i == keyStart || i == n { return false }
        let key = Bytes(start: p + keyStart, count: i - keyStart)
        i += 1
        let valueStart = i
        var v: UInt64 = 0
        while i < n && p[i] != ASCII.newline {
            let d = p[i] &- ASCII.zero
            if d > 9 { return false }
            v = v &* 10 &+ UInt64(d)
            i += 1
        }
        if i == valueStart || i - valueStart > 19 { return false }
        if !line(number, key, v) { return false }
        number += 1
        i += 1
    }
    return true
}

/// The keys of one file seen so far, to refuse a key written twice in
/// constant time per key: a bit per known key, a hash set (allocated only
/// when needed) for the others. A linear search per key made a hostile
/// 200,000-key file take minutes.
struct SeenKeys {
    private var known: (UInt64, UInt64) = (0, 0)
    private var others: Set<String> = []

    static let knownCapacity = 128

    /// Records `key` (whose index in `KnownKeys.all` is `known`, if any);
    /// false when it was already there.
    mutating func insert(_ key: String, known index: Int?) -> Bool {
        guard let index else { return others.insert(key).inserted }
        return insert(known: index)
    }

    /// Records the known key of index `index` in `KnownKeys.all`.
    @inline(__always) mutating func insert(known index: Int) -> Bool {
        let bit = UInt64(1) << UInt64(index & 63)
        if index < 64 {
            if known.0 & bit != 0 { return false }
            known.0 |= bit
        } else {
            if known.1 & bit != 0 { return false }
            known.1 |= bit
        }
        return true
    }
}

/// Parses an unsigned decimal integer, the only number format cgroupfs writes.
func parseUInt64(_ b: Bytes, file: String, line: Int?, field: String?) throws(ParseError) -> UInt64 {
    if b.isEmpty {
        throw ParseError(file: file, line: line, field: field, reason: .notANumber(""))
    }
    if b[0] == ASCII.minus {
        throw ParseError(file: file, line: line, field: field, reason: .negative(text(b)))
    }
    var value: UInt64 = 0
    for c in b {
        guard ASCII.isDigit(c) else {
            throw ParseError(file: file, line: line, field: field, reason: .notANumber(text(b)))
        }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(c - ASCII.zero))
        if o1 || o2 {
            throw ParseError(file: file, line: line, field: field, reason: .overflow(text(b)))
        }
        value = a
    }
    return value
}

/// Parses the kernel's fixed-point percentages (`%lu.%02lu`, as in PSI `avg10=1.59`).
func parseDecimal(_ b: Bytes, file: String, line: Int?, field: String?) throws(ParseError) -> Double {
    if !b.isEmpty && b[0] == ASCII.minus {
        throw ParseError(file: file, line: line, field: field, reason: .negative(text(b)))
    }
    guard let dot = b.firstIndex(of: ASCII.dot) else {
        return Double(try parseUInt64(b, file: file, line: line, field: field))
    }
    let whole = slice(b, 0, dot)
    let frac = slice(b, dot + 1, b.count)
    guard !whole.isEmpty, !frac.isEmpty, frac.count <= 6, frac.allSatisfy(ASCII.isDigit) else {
        throw ParseError(file: file, line: line, field: field, reason: .notANumber(text(b)))
    }
    let w = try parseUInt64(whole, file: file, line: line, field: field)
    let f = try parseUInt64(frac, file: file, line: line, field: field)
    var scale: UInt64 = 1
    for _ in 0..<frac.count { scale *= 10 }
    // One division of exact integers: "1.59" becomes the double nearest to 1.59
    // (1 + 59/100 would not).
    let (scaled, o1) = w.multipliedReportingOverflow(by: scale)
    let (sum, o2) = scaled.addingReportingOverflow(f)
    if o1 || o2 { throw ParseError(file: file, line: line, field: field, reason: .overflow(text(b))) }
    return Double(sum) / Double(scale)
}
