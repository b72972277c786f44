/// Why the kill helper will not act on a group. Every refusal leaves the
/// group's processes alone.
public enum HelperRefusal: Equatable, Sendable, CustomStringConvertible {
    /// The request path names nothing beneath the root (`..`, absolute, ...).
    case invalidPath(PathProblem)
    /// The root cgroup: every process of the node (the kernel has no
    /// `cgroup.kill` there either).
    case root
    /// cgwarden's own cgroup: it would kill the guard and its helper.
    case ownCgroup(CgroupPath)
    /// An ancestor of cgwarden's own cgroup (`own` is that cgroup): its
    /// subtree holds cgwarden.
    case ancestorOfOwn(own: CgroupPath)
    /// The group, or a group below it, matches a protected pattern.
    case protected(CgroupPath, pattern: String)
    /// A component of the path is a symbolic link (cgroupfs has none: one was planted).
    case symlink
    /// The path crosses a mount point below the root.
    case crossesMount
    /// No such group beneath the root (removed, or never there).
    case notFound
    /// A component is not a directory.
    case notADirectory
    /// The directory at the path is not the group the decision was about:
    /// it was removed and another made at the same path since.
    case staleID(expected: UInt64, found: UInt64)
    /// The helper's root is not a cgroup2 mount: a `cgroup.procs` there is a
    /// plain file whose pids mean nothing, so nothing is killed by it.
    case notCgroup2

    public var description: String {
        switch self {
        case .invalidPath(let p): return "not a path below the cgroup root: \(p)"
        case .root: return "it is the root cgroup"
        case .ownCgroup: return "it is cgwarden's own cgroup"
        case .ancestorOfOwn(let own): return "it contains cgwarden's own cgroup \(own)"
        case .protected(let path, let pattern): return "\(path) is protected (\(pattern))"
        case .symlink: return "the path goes through a symbolic link"
        case .crossesMount: return "the path crosses a mount point"
        case .notFound: return "no such cgroup"
        case .notADirectory: return "the path goes through something that is not a directory"
        case .staleID(let e, let f): return "the cgroup was replaced (id \(f), expected \(e))"
        case .notCgroup2: return "the cgroup root is not a cgroup v2 mount"
        }
    }
}

/// The helper's refusal rules, as a function of values: what the helper
/// was configured with when it was spawned (protected patterns, from the
/// trusted side before privileges were dropped; its own cgroup) and what a
/// request names. No request can change them.
public struct KillRules: Equatable, Sendable {
    /// Groups never killed, nor any group above them.
    public var protected: [CgroupPattern]
    /// cgwarden's cgroup in the root's coordinates; nil when it is not beneath the root.
    public var ownCgroup: CgroupPath?

    public init(protected: [CgroupPattern] = [], ownCgroup: CgroupPath?) {
        self.protected = protected
        self.ownCgroup = ownCgroup
    }

    /// Why `target` may not be killed (checked before anything is opened),
    /// or nil. `cgroup.kill` acts on a whole subtree, so a target that holds
    /// cgwarden's cgroup is refused like that cgroup itself.
    public func refusal(forTarget target: CgroupPath) -> HelperRefusal? {
        if target.isRoot { return .root }
        if let own = ownCgroup, own.isWithin(target) {
            return own == target ? .ownCgroup(own) : .ancestorOfOwn(own: own)
        }
        return protection(of: target)
    }

    /// The protected pattern `path` matches, as a refusal: asked for the
    /// target and for every group found below it.
    public func protection(of path: CgroupPath) -> HelperRefusal? {
        for p in protected where p.matches(path) { return .protected(path, pattern: p.text) }
        return nil
    }

    /// The refusal when the directory opened at the path is not the group asked for.
    public static func staleness(expected: UInt64, found: UInt64) -> HelperRefusal? {
        expected == found ? nil : .staleID(expected: expected, found: found)
    }
}
