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
    /// A group below the target could not be seen into (a mount covers it,
    /// or it could not be listed): a protected group or cgwarden itself could
    /// be there, and `cgroup.kill` would kill it too.
    case unseenSubtree(CgroupPath, errno: Int32)
    /// cgwarden's own cgroup is unknown, and the target's subtree could not
    /// all be searched for cgwarden's processes.
    case ownCgroupUnknown

    /// One code per refusal, on the wire and in `kill --json` (`name`).
    public enum Code: UInt8, CaseIterable, Sendable {
        case invalidPath = 1, root, ownCgroup, ancestorOfOwn, protected, symlink, crossesMount, notFound,
             notADirectory, staleID, notCgroup2, unseenSubtree, ownCgroupUnknown

        /// Stable names, for scripts.
        public var name: String {
            switch self {
            case .invalidPath: return "invalid_path"
            case .root: return "root"
            case .ownCgroup: return "own_cgroup"
            case .ancestorOfOwn: return "ancestor_of_own"
            case .protected: return "protected"
            case .symlink: return "symlink"
            case .crossesMount: return "crosses_mount"
            case .notFound: return "not_found"
            case .notADirectory: return "not_a_directory"
            case .staleID: return "stale_id"
            case .notCgroup2: return "not_cgroup2"
            case .unseenSubtree: return "unseen_subtree"
            case .ownCgroupUnknown: return "own_cgroup_unknown"
            }
        }
    }

    public var code: Code {
        switch self {
        case .invalidPath: return .invalidPath
        case .root: return .root
        case .ownCgroup: return .ownCgroup
        case .ancestorOfOwn: return .ancestorOfOwn
        case .protected: return .protected
        case .symlink: return .symlink
        case .crossesMount: return .crossesMount
        case .notFound: return .notFound
        case .notADirectory: return .notADirectory
        case .staleID: return .staleID
        case .notCgroup2: return .notCgroup2
        case .unseenSubtree: return .unseenSubtree
        case .ownCgroupUnknown: return .ownCgroupUnknown
        }
    }

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
        case .unseenSubtree(let p, let e):
            return "cannot see below \(p) (errno \(e)): a protected group or cgwarden itself could be there"
        case .ownCgroupUnknown:
            return "cgwarden's own cgroup is unknown and this subtree could not all be searched for it"
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
    /// cgwarden's cgroup in the root's coordinates.
    public var own: OwnCgroup

    public init(protected: [CgroupPattern] = [], own: OwnCgroup) {
        self.protected = protected
        self.own = own
    }

    /// Why `target` may not be killed (checked before anything is opened),
    /// or nil. `cgroup.kill` acts on a whole subtree, so a target that holds
    /// cgwarden's cgroup is refused like that cgroup itself.
    public func refusal(forTarget target: CgroupPath) -> HelperRefusal? {
        if target.isRoot { return .root }
        if let ownPath = own.path, ownPath.isWithin(target) { return ownRefusal(ownPath, target: target) }
        return protection(of: target)
    }

    /// The refusal for a target that holds cgwarden's cgroup `ownPath`.
    public func ownRefusal(_ ownPath: CgroupPath, target: CgroupPath) -> HelperRefusal {
        ownPath == target ? .ownCgroup(ownPath) : .ancestorOfOwn(own: ownPath)
    }

    /// Why a group found below the target (at `path`, with cgroup id `id`)
    /// refuses the kill: it is cgwarden's own cgroup (by id: whatever the
    /// path says, in any cgroup namespace), or it is protected.
    public func refusal(forDescendant path: CgroupPath, id: UInt64, target: CgroupPath) -> HelperRefusal? {
        if case .at(let ownPath, let ownID) = own, ownID == id { return .ancestorOfOwn(own: ownPath) }
        return protection(of: path)
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
