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
public struct GroupIdentity: Equatable, Sendable {
    /// The systemd unit the group is (`a.slice`, `nginx.service`, `session-3.scope`).
    public var unit: String?
    public var kubernetes: KubernetesIdentity?

    public init(unit: String? = nil, kubernetes: KubernetesIdentity? = nil) {
        self.unit = unit
        self.kubernetes = kubernetes
    }

    public init(path: CgroupPath) {
        self.unit = path.name.flatMap(GroupIdentity.unit(of:))
        self.kubernetes = KubernetesIdentity(path: path)
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
            // cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope
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
