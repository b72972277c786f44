/// One mapping of `/proc/PID/smaps`: its range, permissions, file, and the
/// few per-mapping figures the daemon needs to drop the pages of its start.
///
///     55d0c6a00000-55d0c6f6b000 r-xp 00200000 fe:01 1319                       /usr/bin/cgwarden
///     Rss:                1204 kB
///     Anonymous:             0 kB
///     VmFlags: rd ex mr mw me lo dw
public struct MemoryMapping: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
    /// `s` (MAP_SHARED) rather than `p`.
    public var shared: Bool
    /// 0 for anonymous memory, the stack, the heap, `[vdso]`.
    public var inode: UInt64
    /// As the kernel wrote it (`/usr/lib/x86_64-linux-gnu/libc.so.6`, `[heap]`, empty).
    public var path: [UInt8]
    public var residentKiB: UInt64?
    /// Pages of the mapping that are private copies (copy-on-write of a file
    /// page that was written, as the loader's relocations do): nil when the
    /// kernel did not say.
    public var anonymousKiB: UInt64?
    /// The two-letter flags of `VmFlags:` (`lo` locked, `io`, `pf`...).
    public var flags: [String]

    public init(start: UInt64, end: UInt64, readable: Bool, writable: Bool, executable: Bool, shared: Bool,
                inode: UInt64, path: [UInt8], residentKiB: UInt64? = nil, anonymousKiB: UInt64? = nil, flags: [String] = []) {
        self.start = start
        self.end = end
        self.readable = readable
        self.writable = writable
        self.executable = executable
        self.shared = shared
        self.inode = inode
        self.path = path
        self.residentKiB = residentKiB
        self.anonymousKiB = anonymousKiB
        self.flags = flags
    }

    public var size: UInt64 { end >= start ? end - start : 0 }
    /// mlock'ed (`lo`): madvise(MADV_DONTNEED) refuses the range until it is unlocked.
    public var locked: Bool { flags.contains("lo") }

    /// Whether every resident page of the mapping is an unmodified page of
    /// its file, so that MADV_DONTNEED only unmaps them and the next access
    /// reads the same bytes back from the page cache: a private mapping of a
    /// regular file, not writable (it cannot have become a copy since the
    /// kernel counted), with no private copy in it. Excluded: anything
    /// written (a relocated `.data.rel.ro` is read-only *after* the loader
    /// wrote it, and dropping it would bring back the unrelocated file
    /// bytes), shared and anonymous memory, device and PFN mappings (`io`,
    /// `pf`), and a mapping whose smaps did not say how much of it is a copy.
    public var isCleanFileCopy: Bool {
        guard !shared, !writable, readable || executable, inode != 0, path.first == UInt8(ascii: "/"),
              let anonymousKiB, anonymousKiB == 0, size > 0 else { return false }
        return !flags.contains("io") && !flags.contains("pf")
    }
}

extension Parse {
    /// `/proc/PID/smaps`: a header line per mapping (`start-end perms offset
    /// dev inode [path]`), then its `Key: value kB` lines. Keys other than
    /// `Rss`, `Anonymous` and `VmFlags` are skipped.
    public static func smaps(_ b: Bytes, file: String = "smaps") throws(ParseError) -> [MemoryMapping] {
        var out: [MemoryMapping] = []
        try forEachLine(b) { (number, line) throws(ParseError) in
            var f = Fields(line)
            guard let first = f.next() else { return }
            if first.last == ASCII.colon {
                guard !out.isEmpty else { throw ParseError(file: file, line: number, reason: .malformedLine(text(line))) }
                if equals(first, "VmFlags:") {
                    out[out.count - 1].flags = f.map { text($0) }
                } else if equals(first, "Rss:") || equals(first, "Anonymous:") {
                    let field = text(slice(first, 0, first.count - 1))
                    guard let value = f.next() else {
                        throw ParseError(file: file, line: number, field: field, reason: .notANumber(""))
                    }
                    let kib = try parseUInt64(value, file: file, line: number, field: field)
                    if field == "Rss" { out[out.count - 1].residentKiB = kib } else { out[out.count - 1].anonymousKiB = kib }
                }
                return
            }
            out.append(try mapping(first, &f, line, file: file, number: number))
        }
        return out
    }

    public static func smaps(_ s: String, file: String = "smaps") throws(ParseError) -> [MemoryMapping] {
        try s.withBytes { b throws(ParseError) in try smaps(b, file: file) }
    }

    private static func mapping(_ range: Bytes, _ f: inout Fields, _ line: Bytes, file: String, number: Int) throws(ParseError) -> MemoryMapping {
        let bad = ParseError(file: file, line: number, reason: .malformedLine(text(line)))
        guard let dash = range.firstIndex(of: ASCII.minus),
              let start = hex(slice(range, 0, dash)), let end = hex(slice(range, dash + 1, range.count)), start <= end,
              let perms = f.next(), perms.count == 4, f.next().flatMap(hex) != nil, let device = f.next(),
              device.contains(ASCII.colon), let inodeText = f.next() else { throw bad }
        let inode = try parseUInt64(inodeText, file: file, line: number, field: "inode")
        func flag(_ i: Int, _ on: Unicode.Scalar, _ off: Unicode.Scalar = "-") throws(ParseError) -> Bool {
            if perms[i] == UInt8(ascii: on) { return true }
            if perms[i] == UInt8(ascii: off) { return false }
            throw bad
        }
        let r = try flag(0, "r"), w = try flag(1, "w"), x = try flag(2, "x"), s = try flag(3, "s", "p")
        let path = Array(trimmed(slice(line, f.i, line.count)))
        return MemoryMapping(start: start, end: end, readable: r, writable: w, executable: x, shared: s, inode: inode, path: path)
    }

    /// 1 to 16 hexadecimal digits (lower or upper case); nil otherwise.
    static func hex(_ b: Bytes) -> UInt64? {
        guard !b.isEmpty, b.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in b {
            guard let d = PathText.hexValue(c) else { return nil }
            v = v << 4 | UInt64(d)
        }
        return v
    }
}
