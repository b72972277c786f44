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

/// The path syntax of the kill helper's requests: relative to its root
/// directory, names separated by `/`, the empty string for the root itself.
///
/// Stricter than the kernel's `RESOLVE_BENEATH` (which accepts `a/../b`):
/// the helper has no use for such paths, and refusing them before any system
/// call keeps its two resolvers (openat2 and the component walk) equivalent.
public enum HelperPath {
    /// Linux NAME_MAX.
    public static let maxComponentLength = PathText.maxComponentLength
    /// Linux PATH_MAX counts the terminating NUL: a path is at most 4095 bytes.
    public static let maxLength = PathText.maxLength

    /// The cgroup a request path names (the root for no bytes), or why it
    /// names none. The bytes are the names themselves, not an escaped text.
    public static func parse(_ bytes: [UInt8]) -> Result<CgroupPath, PathProblem> {
        if bytes.isEmpty { return .success(.root) }
        if bytes.count > maxLength { return .failure(.tooLong) }
        if bytes.first == CgroupPath.slash { return .failure(.absolute) }
        for name in bytes.split(separator: CgroupPath.slash, omittingEmptySubsequences: false) {
            if let problem = PathText.check(name) { return .failure(problem) }
        }
        return .success(CgroupPath(unchecked: bytes))
    }

    /// The request bytes of a path: `a.slice/b.service`, none for the root.
    public static func bytes(_ path: CgroupPath) -> [UInt8] { path.bytes }
}
