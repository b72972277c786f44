/// A cgroup as the kill helper is asked about it: its path below the root
/// and its id (the inode of its directory, as `fstat` gives it). The id
/// tells a group from another made at the same path since the decision.
public struct CgroupTarget: Hashable, Sendable, CustomStringConvertible {
    public var path: CgroupPath
    public var id: UInt64

    public init(path: CgroupPath, id: UInt64) {
        self.path = path
        self.id = id
    }

    public var description: String { "\(path) (id \(id))" }
}

/// Why a path given to the helper names nothing beneath its root.
public enum PathProblem: UInt8, Error, Equatable, Sendable, CustomStringConvertible {
    /// Starts with `/`: resolved from the file-system root, it would escape.
    case absolute = 1
    case nul = 2
    /// `a//b` or a trailing `/`.
    case emptyComponent = 3
    case dot = 4
    /// `..`: a way up and out.
    case dotDot = 5
    /// A name longer than NAME_MAX (255 bytes).
    case componentTooLong = 6
    /// PATH_MAX (4096 bytes, with the NUL) or longer.
    case tooLong = 7

    public var description: String {
        switch self {
        case .absolute: return "an absolute path (it must be relative to the cgroup root)"
        case .nul: return "the path holds a NUL byte"
        case .emptyComponent: return "the path has an empty name ('//' or a trailing '/')"
        case .dot: return "the path has a '.' component"
        case .dotDot: return "the path has a '..' component"
        case .componentTooLong: return "a name is longer than 255 bytes"
        case .tooLong: return "the path is 4096 bytes or longer"
        }
    }
}

/// The path syntax of the kill helper's requests: relative to its root
/// directory, names separated by `/`, the empty string for the root itself.
///
/// Stricter than the kernel's `RESOLVE_BENEATH` (which accepts `a/../b`):
/// the helper has no use for such paths, and refusing them before any system
/// call keeps its two resolvers (openat2 and the component walk) equivalent.
public enum HelperPath {
    /// Linux NAME_MAX.
    public static let maxComponentLength = 255
    /// Linux PATH_MAX counts the terminating NUL: a path is at most 4095 bytes.
    public static let maxLength = 4095

    /// The cgroup a request path names (the root for ""), or why it names none.
    public static func parse(_ text: String) -> Result<CgroupPath, PathProblem> {
        let bytes = text.utf8
        if bytes.isEmpty { return .success(.root) }
        if bytes.count > maxLength { return .failure(.tooLong) }
        if bytes.first == UInt8(ascii: "/") { return .failure(.absolute) }
        if bytes.contains(0) { return .failure(.nul) }
        var components: [String] = []
        for c in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if c.isEmpty { return .failure(.emptyComponent) }
            if c.count > maxComponentLength { return .failure(.componentTooLong) }
            if c.elementsEqual(".".utf8) { return .failure(.dot) }
            if c.elementsEqual("..".utf8) { return .failure(.dotDot) }
            components.append(String(decoding: c, as: UTF8.self))
        }
        return .success(CgroupPath(components: components))
    }

    /// The request text of a path: `a.slice/b.service`, "" for the root.
    public static func text(_ path: CgroupPath) -> String {
        path.components.joined(separator: "/")
    }

    /// Parses a path as an operator writes it (`/tenants.slice/a`, as
    /// `status` shows it): one leading `/` stands for the cgroup root and one
    /// trailing `/` is ignored; the rest follows the request syntax (so
    /// `//etc` is an absolute escape and `/a/../b` has a `..`).
    public static func parseOperatorPath(_ text: String) -> Result<CgroupPath, PathProblem> {
        var t = Substring(text)
        if t.hasPrefix("/") { t = t.dropFirst() }
        if t.hasSuffix("/") && !t.hasSuffix("//") { t = t.dropLast() }
        return parse(String(t))
    }
}
