/// Pod names from the kubelet's log directories, without an API server.
///
/// A pod's cgroup carries only its UID. The kubelet keeps each pod's logs in
/// `/var/log/pods/<namespace>_<name>_<uid>/` and removes the directory when
/// the pod is gone. A namespace is a DNS label and a pod name a DNS
/// subdomain: neither can hold `_`, so a valid entry has exactly two, and
/// the UID is the last part. Entries of any other shape are counted and
/// ignored, never guessed at.

/// A pod's namespace and name, as the bytes of its log directory.
public struct PodName: Hashable, Sendable, CustomStringConvertible {
    public let namespace: [UInt8]
    public let name: [UInt8]

    public init(namespace: [UInt8], name: [UInt8]) {
        self.namespace = namespace
        self.name = name
    }

    public init(namespace: String, name: String) {
        self.init(namespace: Array(namespace.utf8), name: Array(name.utf8))
    }

    /// Escaped as every name cgwarden shows (`PathText.escape`): a valid
    /// entry is plain ASCII, the escape is the second line.
    public var namespaceText: String { PathText.escape(namespace[...]) }
    public var nameText: String { PathText.escape(name[...]) }

    /// `namespace/name`, as `kubectl` writes it.
    public var description: String { namespaceText + "/" + nameText }
}

/// What a pod's cgroup is, with the name where the log directories tell
/// it: the labels a metric series, an event or a stored record of a group
/// in a pod carries.
public struct PodLabels: Equatable, Sendable {
    /// With dashes, as the API server shows it.
    public var uid: String
    public var qos: QoSClass?
    /// nil when no log directory names the pod (not on this node's disk,
    /// no /var/log/pods, a name the parser refused).
    public var name: PodName?

    public init(uid: String, qos: QoSClass?, name: PodName?) {
        self.uid = uid
        self.qos = qos
        self.name = name
    }

    /// Escaped text, nil when the name is not known.
    public var namespace: String? { name?.namespaceText }
    public var podName: String? { name?.nameText }
    /// `namespace/name`, nil when the name is not known.
    public var qualifiedName: String? { name?.description }
    /// `namespace/name`, or the UID's first 8 characters.
    public var display: String { name?.description ?? String(uid.prefix(8)) }
}

/// The pods of a node by UID, from the names of the entries of the kubelet's
/// log directory. A value: it travels in the `Snapshot`, so everything that
/// shows a pod is pure.
public struct PodNames: Equatable, Sendable {
    /// Kubernetes' own bounds: a namespace is a DNS label (RFC 1123, at most
    /// 63 bytes), a pod name a DNS subdomain (at most 253 bytes).
    public static let maximumNamespaceLength = 63
    public static let maximumNameLength = 253
    /// A UUID is 36 bytes, a static pod's UID (a hash) 32: room to spare.
    public static let maximumUIDLength = 64

    /// Keyed by the UID with dashes, in lower case.
    public private(set) var byUID: [String: PodName] = [:]
    /// Entries that are not `<namespace>_<name>_<uid>`.
    public private(set) var ignored = 0
    /// The first of them, escaped, for the warning.
    public private(set) var ignoredExample: String?
    /// UIDs that more than one entry names differently: left unnamed
    /// rather than named by whichever the directory listed first.
    public private(set) var conflicting = 0
    /// The directory read, for warnings (nil: none was read).
    public var directory: String?
    /// The listing stopped at its bound: the pods of the entries not read are shown by UID.
    public var truncatedAt: Int?
    /// Why the directory could not be read (a missing directory is not a
    /// problem: a node without pods, or not a Kubernetes node).
    public var problem: String?

    public init() {}

    /// No names: every pod is shown by UID.
    public static let empty = PodNames()

    /// The table of the entries' names (bytes as listed: any bytes but `/`
    /// and NUL).
    public init<S: Sequence>(entries: S, directory: String? = nil) where S.Element == [UInt8] {
        self.directory = directory
        var conflicted = Set<String>()
        for entry in entries {
            guard let (uid, name) = PodNames.parse(entry: entry) else {
                ignored += 1
                if ignoredExample == nil { ignoredExample = PathText.escape(entry[...]) }
                continue
            }
            if conflicted.contains(uid) { continue }
            if let seen = byUID[uid] {
                guard seen != name else { continue }
                byUID[uid] = nil
                conflicted.insert(uid)
                conflicting += 1
                continue
            }
            byUID[uid] = name
        }
    }

    /// One entry: the UID (dashes, lower case) and the name, or nil when it is
    /// not `<namespace>_<name>_<uid>` with a DNS label, a DNS subdomain and a UID.
    public static func parse(entry: [UInt8]) -> (uid: String, name: PodName)? {
        let underscore = UInt8(ascii: "_")
        // Bounded before anything is split: the longest valid entry.
        guard entry.count <= maximumNamespaceLength + maximumNameLength + maximumUIDLength + 2,
              let first = entry.firstIndex(of: underscore) else { return nil }
        guard let second = entry[(first + 1)...].firstIndex(of: underscore),
              !entry[(second + 1)...].contains(underscore) else { return nil }
        let namespace = entry[..<first], name = entry[(first + 1)..<second], uid = entry[(second + 1)...]
        guard isLabel(namespace), namespace.count <= maximumNamespaceLength,
              isSubdomain(name), name.count <= maximumNameLength,
              let key = uidKey(uid) else { return nil }
        return (key, PodName(namespace: Array(namespace), name: Array(name)))
    }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
    static func isLabel(_ s: ArraySlice<UInt8>) -> Bool {
        guard let f = s.first, let l = s.last, isAlphanumeric(f), isAlphanumeric(l) else { return false }
        return s.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// Labels joined by dots.
    static func isSubdomain(_ s: ArraySlice<UInt8>) -> Bool {
        guard !s.isEmpty else { return false }
        return s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy(isLabel)
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }

    /// Hex digits and dashes, lower-cased: the form `KubernetesIdentity` gives.
    static func uidKey(_ s: ArraySlice<UInt8>) -> String? {
        guard !s.isEmpty, s.count <= maximumUIDLength,
              s.contains(where: { $0 != UInt8(ascii: "-") }),
              s.allSatisfy({ PathText.hexValue($0) != nil || $0 == UInt8(ascii: "-") }) else { return nil }
        return String(decoding: s.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    public var count: Int { byUID.count }

    /// The name of the pod with this UID (dashes; any case).
    public subscript(uid: String) -> PodName? {
        guard let key = PodNames.uidKey(Array(uid.utf8)[...]) else { return nil }
        return byUID[key]
    }

    /// The pod a group is or belongs to (the pod's own group, a container
    /// of it, anything below), with its name where known; nil outside pods.
    public func podLabels(for path: CgroupPath) -> PodLabels? {
        podLabels(for: KubernetesIdentity(path: path))
    }

    public func podLabels(for identity: KubernetesIdentity?) -> PodLabels? {
        guard let k = identity, let uid = k.podUID else { return nil }
        return PodLabels(uid: uid, qos: k.qos, name: self[uid])
    }

    /// What an operator should hear about the table: one line each, empty
    /// when all is well.
    public var warnings: [String] {
        let dir = directory ?? "the pod log directory"
        var out: [String] = []
        if let problem { out.append("pod names: \(problem); pods are shown by UID") }
        if let truncatedAt {
            out.append("pod names: \(dir) has more than \(truncatedAt) entries; only \(truncatedAt) are read, "
                       + "the pods of the others are shown by UID")
        }
        if ignored > 0 {
            out.append("pod names: \(ignored) entr\(ignored == 1 ? "y" : "ies") of \(dir) "
                       + "\(ignored == 1 ? "is" : "are") not NAMESPACE_NAME_UID (e.g. '\(ignoredExample ?? "")'): ignored")
        }
        if conflicting > 0 {
            out.append("pod names: \(conflicting) pod UID\(conflicting == 1 ? "" : "s") of \(dir) "
                       + "\(conflicting == 1 ? "has" : "have") more than one name: shown by UID")
        }
        return out
    }
}

extension Snapshot {
    /// The pod a group is or belongs to, named from the snapshot's table.
    public func podLabels(for path: CgroupPath) -> PodLabels? { pods.podLabels(for: path) }
}
