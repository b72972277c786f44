/// A pattern over cgroup paths, as the configuration writes them:
///
///     /tenants.slice/*            every direct child of tenants.slice
///     /kubepods.slice/**          kubepods.slice and everything below it
///     /system.slice/*.service     every service directly in system.slice
///     /**/session-*.scope         a session scope at any depth
///
/// `*` matches any run of bytes within one level (never `/`), `?` one
/// character (one UTF-8 sequence, or one byte that is not part of one), and a
/// level that is exactly `**` matches zero or more levels. Names are matched
/// byte by byte; a name that is not printable is written as `status` shows it
/// (`\xNN`, `\\`), and `\*`, `\?` stand for a literal `*` and `?`.
public struct CgroupPattern: Hashable, Sendable, CustomStringConvertible {
    enum Component: Hashable, Sendable {
        case literal([UInt8])
        case glob([GlobToken])
        case anyDepth
    }

    enum GlobToken: Hashable, Sendable {
        case byte(UInt8)
        case anyRun
        case oneCharacter
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
        case badEscape(String)

        public var description: String {
            switch self {
            case .notAbsolute: return "a cgroup pattern starts with '/' (a path below the cgroup root)"
            case .empty: return "the pattern is empty"
            case .emptyComponent: return "the pattern has an empty level ('//'), which no cgroup path has"
            case .dotComponent(let c): return "'\(c)' is never the name of a cgroup"
            case .starStarInsideComponent(let c): return "'**' must be a whole level, not part of '\(c)'"
            case .nul: return "the pattern holds a NUL character"
            case .badEscape(let c): return "in '\(c)': a '\\' must start '\\\\', '\\*', '\\?' or '\\xNN' (two hex digits, not 00 or 2f)"
            }
        }
    }

    /// Parses a pattern; the error says why it could never match.
    public static func parse(_ text: String) -> Result<CgroupPattern, Problem> {
        if text.isEmpty { return .failure(.empty) }
        guard text.hasPrefix("/") else { return .failure(.notAbsolute) }
        if text.utf8.contains(0) { return .failure(.nul) }
        var comps: [Component] = []
        let bytes = Array(text.utf8)
        let parts = bytes.dropFirst().split(separator: CgroupPath.slash, omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            let shown = String(decoding: part, as: UTF8.self)
            if part.isEmpty {
                // "/" alone is the root; a trailing slash is tolerated.
                if parts.count == 1 || i == parts.count - 1 { continue }
                return .failure(.emptyComponent)
            }
            if part.elementsEqual("**".utf8) {
                if comps.last != .anyDepth { comps.append(.anyDepth) }
                continue
            }
            guard let tokens = tokens(part) else { return .failure(.badEscape(shown)) }
            var literal: [UInt8] = []
            var isLiteral = true
            for (k, t) in tokens.enumerated() {
                switch t {
                case .byte(let b): literal.append(b)
                case .anyRun:
                    isLiteral = false
                    if k > 0, tokens[k - 1] == .anyRun { return .failure(.starStarInsideComponent(shown)) }
                case .oneCharacter: isLiteral = false
                }
            }
            if isLiteral {
                if literal.contains(0) { return .failure(.nul) }
                if literal.elementsEqual(".".utf8) || literal.elementsEqual("..".utf8) {
                    return .failure(.dotComponent(shown))
                }
                comps.append(.literal(literal))
            } else {
                comps.append(.glob(tokens))
            }
        }
        return .success(CgroupPattern(text: text, components: comps))
    }

    /// The tokens of one level; nil on a bad escape.
    static func tokens(_ part: ArraySlice<UInt8>) -> [GlobToken]? {
        var out: [GlobToken] = []
        var i = part.startIndex
        while i < part.endIndex {
            switch part[i] {
            case UInt8(ascii: "*"): out.append(.anyRun); i += 1
            case UInt8(ascii: "?"): out.append(.oneCharacter); i += 1
            case PathText.backslash:
                if i + 1 < part.endIndex, part[i + 1] == UInt8(ascii: "*") || part[i + 1] == UInt8(ascii: "?") {
                    out.append(.byte(part[i + 1]))
                    i += 2
                    continue
                }
                guard let (b, n) = PathText.escapeAt(part, i), b != 0, b != CgroupPath.slash else { return nil }
                out.append(.byte(b))
                i += n
            default:
                out.append(.byte(part[i])); i += 1
            }
        }
        return out
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
        levels = components.reduce(0) { $1 == .anyDepth ? $0 : $0 + 1 }
        anyDepth = components.contains(.anyDepth)
    }

    /// The levels a matching path has: exactly `levels`, or at least as many
    /// with a `**` (which takes any number). Most paths are told apart by
    /// their depth alone, without matching a level.
    let levels: Int
    let anyDepth: Bool

    public var description: String { text }

    /// The one path this pattern matches, when it has no wildcard.
    public var literalPath: CgroupPath? {
        var names: [CgroupName] = []
        for c in components {
            guard case .literal(let b) = c else { return nil }
            names.append(CgroupName(bytes: b))
        }
        return CgroupPath(names: names)
    }

    public func matches(_ path: CgroupPath) -> Bool {
        // The path's levels as slices of its bytes, their bounds on the stack:
        // the policy matches every group against several patterns per snapshot.
        let bytes = path.bytes
        var levels = 0
        if !path.isRoot {
            levels = 1
            for b in bytes where b == CgroupPath.slash { levels += 1 }
        }
        if anyDepth ? levels < self.levels : levels != self.levels { return false }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: levels + 1) { bounds in
            var k = 0
            bounds[0] = 0
            for (j, b) in bytes.enumerated() where b == CgroupPath.slash {
                k += 1
                bounds[k] = j + 1
            }
            bounds[levels] = bytes.count + 1
            return CgroupPattern.match(components[...], Levels(bytes: bytes, bounds: UnsafeBufferPointer(bounds)))
        }
    }

    /// The names of a path's levels: level k is `bytes[bounds[k] ..< bounds[k + 1] - 1]`.
    struct Levels: RandomAccessCollection {
        let bytes: [UInt8]
        let bounds: UnsafeBufferPointer<Int>
        var startIndex: Int { 0 }
        var endIndex: Int { bounds.count - 1 }
        subscript(k: Int) -> ArraySlice<UInt8> { bytes[bounds[k] ..< bounds[k + 1] - 1] }
    }

    static func match<C: RandomAccessCollection>(_ p: ArraySlice<Component>, _ c: C) -> Bool
        where C.Element == ArraySlice<UInt8>, C.Index == Int {
        // Iterative over `**`: remember the last one and how many levels it has taken.
        var pi = p.startIndex, ci = c.startIndex
        var star: (p: Int, c: Int)? = nil
        while true {
            if pi < p.endIndex, case .anyDepth = p[pi] {
                star = (pi, ci)
                pi += 1
                continue
            }
            if pi == p.endIndex && ci == c.endIndex { return true }
            if pi < p.endIndex, ci < c.endIndex, matchLevel(p[pi], c[ci]) {
                pi += 1; ci += 1
                continue
            }
            // Backtrack: the last `**` takes one more level.
            guard let s = star, s.c < c.endIndex else { return false }
            star = (s.p, s.c + 1)
            pi = s.p + 1
            ci = s.c + 1
        }
    }

    static func matchLevel(_ component: Component, _ name: ArraySlice<UInt8>) -> Bool {
        switch component {
        case .anyDepth: return false
        case .literal(let b): return name.elementsEqual(b)
        case .glob(let g): return globMatch(g, name)
        }
    }

    /// Wildcard match over bytes: `*` any run, `?` one character (one whole
    /// UTF-8 sequence). Iterative with one backtrack point.
    static func globMatch(_ g: [GlobToken], _ s: ArraySlice<UInt8>) -> Bool {
        func next(_ i: Int) -> Int {
            if let (_, n) = PathText.decodeScalar(s, at: i) { return i + n }
            return i + 1
        }
        var gi = 0, si = s.startIndex
        var starAt = -1, mark = s.startIndex
        while si < s.endIndex {
            if gi < g.count, g[gi] == .oneCharacter {
                gi += 1; si = next(si)
            } else if gi < g.count, g[gi] == .byte(s[si]) {
                gi += 1; si += 1
            } else if gi < g.count, g[gi] == .anyRun {
                starAt = gi; mark = si; gi += 1
            } else if starAt >= 0 {
                gi = starAt + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while gi < g.count && g[gi] == .anyRun { gi += 1 }
        return gi == g.count
    }
}
