/// What a cgroup is, as far as its path tells: a systemd unit, and a
/// Kubernetes node/QoS/pod/container level, for both cgroup drivers of kubelet.
///
/// systemd driver:
///
///     /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
///     /kubepods.slice/kubepods-pod<uid_>.slice/...          (Guaranteed pods sit directly below)
///
/// cgroupfs driver:
///
///     /kubepods/burstable/pod<uid>/<container id>
///     /kubepods/pod<uid>/<container id>                       (Guaranteed)
///
/// and a container of Podman, Docker or a CRI runtime, in or out of a pod
/// (`ContainerIdentity`).
public struct GroupIdentity: Equatable, Sendable {
    /// The systemd unit the group is (`a.slice`, `nginx.service`, `session-3.scope`).
    public var unit: String?
    public var kubernetes: KubernetesIdentity?
    /// The container the group is or is inside of.
    public var container: ContainerIdentity?

    public init(unit: String? = nil, kubernetes: KubernetesIdentity? = nil, container: ContainerIdentity? = nil) {
        self.unit = unit
        self.kubernetes = kubernetes
        self.container = container
    }

    public init(path: CgroupPath) {
        self.unit = path.name.flatMap(GroupIdentity.unit(of:))
        let k = KubernetesIdentity(path: path)
        self.kubernetes = k
        // The deepest container the names tell (a container's own children
        // keep its identity); below a pod of the cgroupfs driver, the
        // container's group has no runtime prefix: the pod level tells.
        self.container = ContainerIdentity(path: path)
            ?? k.flatMap { k in
                guard k.level == .container, let id = k.containerID else { return nil }
                return ContainerIdentity(runtime: k.runtime, id: id)
            }
    }

    static let unitSuffixes: [[UInt8]] = [".slice", ".service", ".scope", ".socket", ".mount", ".swap"].map { Array($0.utf8) }

    /// systemd unit names are ASCII (systemd escapes everything else as `\xNN`).
    static func unit(of name: CgroupName) -> String? {
        guard name.bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        for s in unitSuffixes where name.bytes.count > s.count && name.bytes.suffix(s.count).elementsEqual(s) {
            return name.lossyText
        }
        return nil
    }
}

public enum QoSClass: String, Sendable, CaseIterable {
    case guaranteed, burstable, besteffort
}

public struct KubernetesIdentity: Equatable, Sendable {
    public enum Level: String, Sendable {
        /// `kubepods.slice` / `kubepods`: every pod of the node.
        case node
        /// `kubepods-burstable.slice` / `kubepods/besteffort`.
        case qos
        case pod
        case container
    }

    public var level: Level
    /// nil only at the node level.
    public var qos: QoSClass?
    /// With dashes, as the API server shows it (`0f1e2d3c-...`).
    public var podUID: String?
    public var containerID: String?
    /// `containerd`, `crio`, `docker` where the scope name tells (systemd driver).
    public var runtime: String?

    public init(level: Level, qos: QoSClass? = nil, podUID: String? = nil,
                containerID: String? = nil, runtime: String? = nil) {
        self.level = level
        self.qos = qos
        self.podUID = podUID
        self.containerID = containerID
        self.runtime = runtime
    }

    /// Recognises the layout below the first `kubepods.slice` or `kubepods` component.
    public init?(path: CgroupPath) {
        // Kubernetes and container runtimes name their groups in ASCII: a name
        // that is not ASCII is never one of theirs (compared as bytes).
        let c = path.names.map { $0.bytes.allSatisfy { $0 < 0x80 } ? $0.lossyText : "" }
        guard let base = c.firstIndex(where: { $0 == "kubepods.slice" || $0 == "kubepods" }) else { return nil }
        let systemd = c[base] == "kubepods.slice"
        var rest = c[(base + 1)...]
        self.init(level: .node)
        guard let first = rest.first else { return }

        // QoS level (Guaranteed pods have none).
        if let q = KubernetesIdentity.qosLevel(first, systemd: systemd) {
            qos = q
            level = .qos
            rest = rest.dropFirst()
            guard let podName = rest.first else { return }
            guard let uid = KubernetesIdentity.podUID(podName, qosPrefix: q.rawValue, systemd: systemd) else { return nil }
            podUID = uid
        } else if let uid = KubernetesIdentity.podUID(first, qosPrefix: nil, systemd: systemd) {
            qos = .guaranteed
            podUID = uid
        } else {
            return nil
        }
        level = .pod
        rest = rest.dropFirst()
        guard let ctr = rest.first else { return }
        level = .container
        if systemd {
            // cri-containerd-<id>.scope, crio-<id>.scope, crio-conmon-<id>.scope, docker-<id>.scope...
            if let c = ContainerIdentity.scope(Array(ctr.utf8)[...]) {
                containerID = c.id
                runtime = c.runtime
                return
            }
            // Another runtime's <runtime>-<id>.scope.
            guard ctr.hasSuffix(".scope"), let dash = ctr.lastIndex(of: "-") else { return nil }
            containerID = String(ctr[ctr.index(after: dash)...].dropLast(".scope".count))
            let prefix = ctr[..<dash]
            runtime = prefix == "cri-containerd" ? "containerd" : String(prefix)
        } else {
            containerID = ctr
        }
        // Deeper groups (a container's own children) keep the container identity.
    }

    static func qosLevel(_ name: String, systemd: Bool) -> QoSClass? {
        for q in [QoSClass.burstable, .besteffort] {
            if name == (systemd ? "kubepods-\(q.rawValue).slice" : q.rawValue) { return q }
        }
        return nil
    }

    static func podUID(_ name: String, qosPrefix: String?, systemd: Bool) -> String? {
        let raw: Substring
        if systemd {
            let prefix = "kubepods-" + (qosPrefix.map { $0 + "-" } ?? "") + "pod"
            guard name.hasPrefix(prefix), name.hasSuffix(".slice") else { return nil }
            raw = name.dropFirst(prefix.count).dropLast(".slice".count)
        } else {
            guard name.hasPrefix("pod") else { return nil }
            raw = name.dropFirst(3)
        }
        // systemd unit names cannot hold '-' inside a component, so kubelet writes '_'.
        let uid = String(raw.map { $0 == "_" ? "-" : $0 })
        guard !uid.isEmpty, uid.utf8.allSatisfy({ PathText.hexValue($0) != nil || $0 == UInt8(ascii: "-") }) else { return nil }
        return uid
    }
}

/// A container as its runtime names its cgroup, compared as bytes:
///
///     libpod-<id>.scope            Podman (systemd cgroup manager)
///     libpod-conmon-<id>.scope     Podman's monitor (conmon) of that container: not the container
///     docker-<id>.scope            Docker (systemd driver)
///     cri-containerd-<id>.scope    containerd (CRI)
///     crio-<id>.scope              CRI-O; crio-conmon-<id>.scope is its monitor
///     /docker/<id>                 Docker (cgroupfs driver)
///     /libpod_parent/libpod-<id>   Podman (cgroupfs manager)
///
/// `<id>` is the runtime's hex id (64 digits; at least 12 accepted). A
/// container's own children (`libpod-<id>.scope/container`, where Podman
/// runs the container below its scope) keep the container's identity.
public struct ContainerIdentity: Equatable, Sendable, CustomStringConvertible {
    /// `podman`, `docker`, `containerd`, `crio`; nil where the name does not
    /// tell (below a pod of kubelet's cgroupfs driver).
    public var runtime: String?
    public var id: String
    /// The group of the runtime's monitor (conmon) for the container, beside
    /// the container's own: killing it is not killing the container.
    public var isMonitor: Bool

    public init(runtime: String?, id: String, isMonitor: Bool = false) {
        self.runtime = runtime
        self.id = id
        self.isMonitor = isMonitor
    }

    /// The id as `docker ps` and `podman ps` show it.
    public var shortID: String { String(id.prefix(12)) }

    /// `podman 3b9a0c4d1e2f`, `conmon 3b9a0c4d1e2f`, `ctr 3b9a0c4d1e2f`.
    public var description: String { "\(isMonitor ? "conmon" : runtime ?? "ctr") \(shortID)" }

    /// The shortest id accepted: Docker's short form. Requiring hex digits
    /// keeps `docker-compose.scope` or `libpod-conmon-x.scope` from being read as ids.
    static let minimumIDLength = 12
    static let maximumIDLength = 128

    static let scopes: [(prefix: [UInt8], runtime: String, monitor: Bool)] = [
        ("cri-containerd-", "containerd", false), ("crio-conmon-", "crio", true), ("crio-", "crio", false),
        ("docker-", "docker", false), ("libpod-conmon-", "podman", true), ("libpod-", "podman", false),
    ].map { (Array($0.0.utf8), $0.1, $0.2) }
    static let scopeSuffix = Array(".scope".utf8)
    static let libpodPrefix = Array("libpod-".utf8)
    static let dockerParent = Array("docker".utf8)
    static let libpodParent = Array("libpod_parent".utf8)

    /// The deepest container the path's names tell, nil when none does.
    public init?(path: CgroupPath) {
        var found: ContainerIdentity?
        var previous: ArraySlice<UInt8>?
        // Slices of the path's bytes: no copy per name (the policy asks for
        // the identity of every candidate).
        for b in path.bytes.split(separator: CgroupPath.slash) {
            if let c = ContainerIdentity.scope(b) {
                found = c
            } else if let p = previous, p.elementsEqual(ContainerIdentity.dockerParent), ContainerIdentity.isID(b) {
                found = ContainerIdentity(runtime: "docker", id: String(decoding: b, as: UTF8.self))
            } else if let p = previous, p.elementsEqual(ContainerIdentity.libpodParent), b.starts(with: ContainerIdentity.libpodPrefix),
                      ContainerIdentity.isID(b.dropFirst(ContainerIdentity.libpodPrefix.count)) {
                found = ContainerIdentity(runtime: "podman",
                                          id: String(decoding: b.dropFirst(ContainerIdentity.libpodPrefix.count), as: UTF8.self))
            }
            previous = b
        }
        guard let found else { return nil }
        self = found
    }

    /// One name of the `<prefix>-<id>.scope` forms; nil for any other.
    public static func scope(_ name: ArraySlice<UInt8>) -> ContainerIdentity? {
        guard name.count > scopeSuffix.count, name.suffix(scopeSuffix.count).elementsEqual(scopeSuffix) else { return nil }
        let stem = name.dropLast(scopeSuffix.count)
        for s in scopes where stem.starts(with: s.prefix) {
            let id = stem.dropFirst(s.prefix.count)
            // `crio-conmon-<id>` also starts with `crio-`: the longer prefix comes first, and "conmon-..." is no id.
            guard isID(id) else { continue }
            return ContainerIdentity(runtime: s.runtime, id: String(decoding: id, as: UTF8.self), isMonitor: s.monitor)
        }
        return nil
    }

    /// Lower-case hex digits, 12 to 128 of them.
    static func isID(_ s: ArraySlice<UInt8>) -> Bool {
        s.count >= minimumIDLength && s.count <= maximumIDLength
            && s.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }
}
