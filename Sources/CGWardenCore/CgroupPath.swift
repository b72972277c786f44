/// The path of a cgroup relative to the walked root: `/` or `/a.slice/b.service`.
///
/// A cgroup name may hold any character but `/` and NUL (spaces, unicode,
/// newlines); names are kept byte-exact. `.` and `..` are never names.
public struct CgroupPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The names from the root down; empty for the root itself.
    public let components: [String]

    public static let root = CgroupPath(components: [])

    public init(components: [String]) {
        self.components = components
    }

    /// Parses `/a/b`, `a/b` or `/`. Returns nil for `.`/`..` components, NUL,
    /// or empty names in the middle (`a//b`).
    public init?(_ string: String) {
        var comps: [String] = []
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        for (i, p) in parts.enumerated() {
            if p.isEmpty {
                // leading and trailing slash are fine, "a//b" is not
                if i == 0 || i == parts.count - 1 { continue }
                return nil
            }
            if p == "." || p == ".." || p.utf8.contains(0) { return nil }
            comps.append(String(p))
        }
        self.components = comps
    }

    public var isRoot: Bool { components.isEmpty }
    public var depth: Int { components.count }
    public var name: String { components.last ?? "/" }

    public var parent: CgroupPath? {
        isRoot ? nil : CgroupPath(components: Array(components.dropLast()))
    }

    public func appending(_ name: String) -> CgroupPath {
        CgroupPath(components: components + [name])
    }

    /// True when `self` is `other` or lies below it.
    public func isWithin(_ other: CgroupPath) -> Bool {
        components.count >= other.components.count
            && Array(components.prefix(other.components.count)) == other.components
    }

    /// The path relative to the root directory, for `openat` (`.` for the root).
    public var relative: String { isRoot ? "." : components.joined(separator: "/") }

    public var description: String { "/" + components.joined(separator: "/") }

    public static func < (a: CgroupPath, b: CgroupPath) -> Bool {
        // Component-wise byte order, so that a parent sorts before its children
        // and siblings sort by name ("a" < "a b" < "a.slice" < "b").
        for (x, y) in zip(a.components, b.components) where x != y {
            return x.utf8.lexicographicallyPrecedes(y.utf8)
        }
        return a.components.count < b.components.count
    }
}
