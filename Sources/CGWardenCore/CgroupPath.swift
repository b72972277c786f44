/// One level of a cgroup path: a directory name exactly as the kernel keeps
/// it. Any bytes but `/` and NUL are a valid name (a tenant with a delegated
/// subtree chooses them): not necessarily UTF-8, and never compared as
/// Swift `Character`s, which would merge a leading combining mark with the
/// `/` before it or call two different byte strings equal.
public struct CgroupName: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// The bytes of a name as listed by the kernel (no `/`, no NUL).
    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The UTF-8 bytes of `text` (literals, tests, configuration).
    public init(_ text: String) {
        self.bytes = Array(text.utf8)
    }

    /// The name as a terminal may show it (`PathText.escape`), and as
    /// `CgroupPath.parse` reads it back.
    public var description: String { PathText.escape(bytes[...]) }

    /// The name decoded as UTF-8, invalid bytes replaced: only for
    /// recognising ASCII conventions (systemd unit suffixes, pod UIDs), never
    /// for identifying, matching or showing a group.
    public var lossyText: String { String(decoding: bytes, as: UTF8.self) }

    public func hasSuffix(_ suffix: StaticString) -> Bool {
        let n = suffix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        let s = UnsafeBufferPointer(start: suffix.utf8Start, count: n)
        return bytes[(bytes.count - n)...].elementsEqual(s)
    }

    /// Calls `body` with the name as a NUL-terminated C string (for `openat`).
    public func withCString<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        try CgroupPath.withCString(bytes[...], body)
    }
}

/// The path of a cgroup relative to the walked root: `/` or `/a.slice/b.service`.
///
/// Kept as the bytes the kernel uses (`a.slice/b.service`, no leading slash,
/// empty for the root): names are byte strings (see `CgroupName`), compared,
/// hashed and matched byte by byte. Shown with `description` (escaped, see
/// `PathText`) and read from an operator with `parse`, which accepts exactly
/// what `description` prints.
public struct CgroupPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The names from the root down, joined by `/`; empty for the root.
    public let bytes: [UInt8]

    public static let root = CgroupPath(unchecked: [])

    static let slash = UInt8(ascii: "/")

    /// Bytes known to be a valid relative path (no empty, `.` or `..` names, no NUL).
    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(names: [CgroupName]) {
        var b: [UInt8] = []
        for (i, n) in names.enumerated() {
            if i > 0 { b.append(CgroupPath.slash) }
            b += n.bytes
        }
        self.bytes = b
    }

    /// Names given as Swift strings (their UTF-8 bytes): literals and tests.
    public init(components: [String]) {
        self.init(names: components.map(CgroupName.init))
    }

    /// Parses a path as an operator writes it, as `description` prints it:
    /// `/a/b`, `a/b`, `/` (see `PathText.parse`). nil when it names no cgroup.
    public init?(_ text: String) {
        guard case .success(let p) = CgroupPath.parse(text) else { return nil }
        self = p
    }

    /// Parses a path as an operator writes it; the failure says what is wrong.
    public static func parse(_ text: String) -> Result<CgroupPath, PathProblem> {
        PathText.parse(text)
    }

    public var isRoot: Bool { bytes.isEmpty }

    /// Number of names below the root (0 for the root).
    public var depth: Int {
        isRoot ? 0 : bytes.reduce(1) { $1 == CgroupPath.slash ? $0 + 1 : $0 }
    }

    /// The names from the root down.
    public var names: [CgroupName] {
        isRoot ? [] : bytes.split(separator: CgroupPath.slash, omittingEmptySubsequences: false)
            .map { CgroupName(bytes: Array($0)) }
    }

    /// The last name; nil for the root.
    public var name: CgroupName? {
        guard !isRoot else { return nil }
        let start = bytes.lastIndex(of: CgroupPath.slash).map { $0 + 1 } ?? 0
        return CgroupName(bytes: Array(bytes[start...]))
    }

    public var parent: CgroupPath? {
        guard !isRoot else { return nil }
        guard let cut = bytes.lastIndex(of: CgroupPath.slash) else { return .root }
        return CgroupPath(unchecked: Array(bytes[..<cut]))
    }

    public func appending(_ name: CgroupName) -> CgroupPath {
        if isRoot { return CgroupPath(unchecked: name.bytes) }
        var b = bytes
        b.reserveCapacity(bytes.count + 1 + name.bytes.count)
        b.append(CgroupPath.slash)
        b += name.bytes
        return CgroupPath(unchecked: b)
    }

    public func appending(_ name: String) -> CgroupPath { appending(CgroupName(name)) }

    /// True when `self` is `other` or lies below it (byte-exact names).
    public func isWithin(_ other: CgroupPath) -> Bool {
        if other.isRoot { return true }
        let n = other.bytes.count
        // Byte by byte, not a generic comparison of slices: the policy's
        // tree asks this about every group at every snapshot.
        guard bytes.count >= n else { return false }
        for j in 0..<n where bytes[j] != other.bytes[j] { return false }
        return bytes.count == n || bytes[n] == CgroupPath.slash
    }

    /// True when `self` lies strictly below `other`.
    public func isBelow(_ other: CgroupPath) -> Bool { bytes.count > other.bytes.count && isWithin(other) }

    /// `self` below `ancestor`, as a path relative to it; nil when not within.
    public func relative(to ancestor: CgroupPath) -> CgroupPath? {
        guard isWithin(ancestor) else { return nil }
        if ancestor.isRoot { return self }
        let start = Swift.min(bytes.count, ancestor.bytes.count + 1)
        return CgroupPath(unchecked: Array(bytes[start...]))
    }

    /// `/a/b` with every name escaped (`PathText.escape`): safe for a terminal.
    public var description: String {
        "/" + PathText.escape(bytes[...])
    }

    /// Calls `body` with the relative path as a NUL-terminated C string
    /// (`.` for the root), for `openat`/`openat2` beneath the root.
    public func withCString<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        try CgroupPath.withCString(isRoot ? [UInt8(ascii: ".")][...] : bytes[...], body)
    }

    static func withCString<R, E: Error>(_ bytes: ArraySlice<UInt8>,
                                         _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        var z = Array(bytes)
        z.append(0)
        var result: Result<R, E>!
        z.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { p in
                result = Result { () throws(E) -> R in try body(p) }
            }
        }
        return try result.get()
    }

    public static func < (a: CgroupPath, b: CgroupPath) -> Bool {
        // Name by name in byte order, so that a parent sorts before its children
        // and siblings sort by name ("a" < "a/z" < "a b" < "a.slice" < "b"):
        // the end of a name sorts before any byte.
        let x = a.bytes, y = b.bytes
        var i = 0
        while i < x.count && i < y.count {
            let p = x[i], q = y[i]
            if p != q {
                if p == slash { return true }
                if q == slash { return false }
                return p < q
            }
            i += 1
        }
        return x.count < y.count
    }
}
