/// A pattern over cgroup paths, as the configuration writes them:
///
///     /tenants.slice/*            every direct child of tenants.slice
///     /kubepods.slice/**          kubepods.slice and everything below it
///     /system.slice/*.service     every service directly in system.slice
///     /**/session-*.scope         a session scope at any depth
///
/// `*` matches any run of characters within one level (never `/`), `?` one
/// character, and a component that is exactly `**` matches zero or more levels.
public struct CgroupPattern: Hashable, Sendable, CustomStringConvertible {
    enum Component: Hashable, Sendable {
        case literal(String)
        /// The component's UTF-8 bytes, with `*` and `?` as wildcards.
        case glob([UInt8])
        case anyDepth
    }

    public let text: String
    let components: [Component]

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case notAbsolute
        case empty
        case emptyComponent
        case dotComponent(String)
        case starStarInsideComponent(String)
        case nul

        public var description: String {
            switch self {
            case .notAbsolute: return "a cgroup pattern starts with '/' (a path below the cgroup root)"
            case .empty: return "the pattern is empty"
            case .emptyComponent: return "the pattern has an empty level ('//'), which no cgroup path has"
            case .dotComponent(let c): return "'\(c)' is never the name of a cgroup"
            case .starStarInsideComponent(let c): return "'**' must be a whole level, not part of '\(c)'"
            case .nul: return "the pattern holds a NUL character"
            }
        }
    }

    /// Parses a pattern; the error says why it could never match.
    public static func parse(_ text: String) -> Result<CgroupPattern, Problem> {
        if text.isEmpty { return .failure(.empty) }
        guard text.hasPrefix("/") else { return .failure(.notAbsolute) }
        if text.utf8.contains(0) { return .failure(.nul) }
        var comps: [Component] = []
        let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for (i, p) in parts.enumerated() {
            if p.isEmpty {
                // "/" alone is the root; a trailing slash is tolerated.
                if parts.count == 1 || i == parts.count - 1 { continue }
                return .failure(.emptyComponent)
            }
            if p == "." || p == ".." { return .failure(.dotComponent(String(p))) }
            if p == "**" {
                if comps.last != .anyDepth { comps.append(.anyDepth) }
            } else if p.contains("**") {
                return .failure(.starStarInsideComponent(String(p)))
            } else if p.contains("*") || p.contains("?") {
                comps.append(.glob(Array(p.utf8)))
            } else {
                comps.append(.literal(String(p)))
            }
        }
        return .success(CgroupPattern(text: text, components: comps))
    }

    /// A pattern known to be valid (tests, built-in defaults).
    public init(_ text: String) {
        guard case .success(let p) = CgroupPattern.parse(text) else {
            preconditionFailure("invalid cgroup pattern \(text)")
        }
        self = p
    }

    private init(text: String, components: [Component]) {
        self.text = text
        self.components = components
    }

    public var description: String { text }

    public func matches(_ path: CgroupPath) -> Bool {
        CgroupPattern.match(components[...], path.components[...])
    }

    static func match(_ p: ArraySlice<Component>, _ c: ArraySlice<String>) -> Bool {
        guard let first = p.first else { return c.isEmpty }
        switch first {
        case .anyDepth:
            // Zero levels, or one more level and try again.
            if match(p.dropFirst(), c) { return true }
            return !c.isEmpty && match(p, c.dropFirst())
        case .literal(let name):
            guard let head = c.first, head == name else { return false }
            return match(p.dropFirst(), c.dropFirst())
        case .glob(let g):
            guard let head = c.first else { return false }
            var name = head
            let ok = name.withUTF8 { s in g.withUnsafeBufferPointer { globMatch($0, s) } }
            guard ok else { return false }
            return match(p.dropFirst(), c.dropFirst())
        }
    }

    /// Wildcard match over UTF-8 bytes: `*` any run, `?` one character (one
    /// whole UTF-8 sequence). Iterative with one backtrack point.
    static func globMatch(_ g: UnsafeBufferPointer<UInt8>, _ s: UnsafeBufferPointer<UInt8>) -> Bool {
        let star = UInt8(ascii: "*"), question = UInt8(ascii: "?")
        func next(_ i: Int) -> Int {
            var j = i + 1
            while j < s.count && s[j] & 0xC0 == 0x80 { j += 1 }   // continuation bytes
            return j
        }
        var gi = 0, si = 0
        var starAt = -1, mark = 0
        while si < s.count {
            if gi < g.count && g[gi] == question {
                gi += 1; si = next(si)
            } else if gi < g.count && g[gi] == s[si] {
                gi += 1; si += 1
            } else if gi < g.count && g[gi] == star {
                starAt = gi; mark = si; gi += 1
            } else if starAt >= 0 {
                gi = starAt + 1; mark = next(mark); si = mark
            } else {
                return false
            }
        }
        while gi < g.count && g[gi] == star { gi += 1 }
        return gi == g.count
    }
}
