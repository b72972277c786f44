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
    /// By length: the key's bytes and its index in `all`.
    static let byLength: [[([UInt8], Int)]] = {
        var t = [[([UInt8], Int)]](repeating: [], count: 33)
        for (i, k) in all.enumerated() where k.utf8.count < t.count { t[k.utf8.count].append((Array(k.utf8), i)) }
        return t
    }()

    /// The index in `all` of the key spelled by `b`, or nil for another key.
    static func index(_ b: Bytes) -> Int? {
        if b.count < byLength.count {
            for (bytes, i) in byLength[b.count] where bytes.elementsEqual(b) {
                return i
            }
        }
        return nil
    }

    static func string(_ b: Bytes) -> String {
        index(b).map { all[$0] } ?? text(b)
    }
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
