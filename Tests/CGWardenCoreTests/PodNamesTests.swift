import Testing
import CGWardenCore

private let uid = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
private let uidSystemd = "0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b"
private let ctr = "3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

private func names(_ entries: [String]) -> PodNames { PodNames(entries: entries.map { Array($0.utf8) }) }

@Suite struct PodNamesTests {
    @Test func kubeletEntries() {
        let t = names(["default_nginx-7c5ddbdf54-x2x9z_\(uid)",
                       "kube-system_kube-apiserver-node1_a1b2c3d4e5f60718293a4b5c6d7e8f90",
                       "monitoring_prometheus.k8s-0_11111111-2222-3333-4444-555555555555"])
        #expect(t.count == 3)
        #expect(t.ignored == 0 && t.conflicting == 0 && t.warnings.isEmpty)
        #expect(t[uid] == PodName(namespace: "default", name: "nginx-7c5ddbdf54-x2x9z"))
        #expect(t[uid]?.description == "default/nginx-7c5ddbdf54-x2x9z")
        // A static pod's UID is a hash without dashes.
        #expect(t["a1b2c3d4e5f60718293a4b5c6d7e8f90"]?.description == "kube-system/kube-apiserver-node1")
        #expect(t["11111111-2222-3333-4444-555555555555"]?.nameText == "prometheus.k8s-0")
        // UIDs compare in any case; a UID with underscores is not a UID.
        #expect(t[uid.uppercased()] != nil)
        #expect(t[uidSystemd] == nil)
        #expect(t["ffffffff-4b5a-6978-8a9b-0c1d2e3f4a5b"] == nil)
    }

    @Test(arguments: [
        "", "_", "__", "___", "a", "a_b", "a__\(uid)", "_a_\(uid)", "a_b_", "a_b_c_\(uid)",
        // Underscores in the UID (the systemd form): more than two underscores.
        "default_web_\(uidSystemd)",
        "Default_web_\(uid)", "default_Web_\(uid)", "default_web_xyz", "default_web_----",
        "default_web_\(uid)\n", "default_-web_\(uid)", "default_web-_\(uid)", "default_web..x_\(uid)",
        "-default_web_\(uid)", "de fault_web_\(uid)", "default_web_\(uid)/x", "default_we\u{e9}b_\(uid)",
        "default_web_\(String(repeating: "a", count: 65))",
        "\(String(repeating: "n", count: 64))_web_\(uid)",
        "default_\(String(repeating: "w", count: 254))_\(uid)",
    ])
    func refusedEntries(entry: String) {
        let t = names([entry, "default_ok_\(uid)"])
        #expect(t.ignored == 1)
        #expect(t.count == 1)
        #expect(t[uid]?.description == "default/ok")
    }

    @Test func longestValidEntry() {
        let ns = String(repeating: "n", count: 63)
        let name = (0..<4).map { _ in String(repeating: "w", count: 62) }.joined(separator: ".") + ".w"
        #expect(name.utf8.count == 253)
        let t = names(["\(ns)_\(name)_\(uid)"])
        #expect(t[uid]?.namespaceText == ns)
        #expect(t[uid]?.nameText == name)
    }

    @Test func bytesThatAreNotUTF8AreIgnoredAndShownEscaped() {
        let bad: [[UInt8]] = [[0xff, 0xfe, 0x5f, 0x61, 0x5f] + Array(uid.utf8), [0xc3], Array("default_w\u{1b}[31m_".utf8) + Array(uid.utf8)]
        let t = PodNames(entries: bad, directory: "/var/log/pods")
        #expect(t.count == 0)
        #expect(t.ignored == 3)
        #expect(t.ignoredExample == "\\xff\\xfe_a_\(uid)")
        #expect(t.warnings == ["pod names: 3 entries of /var/log/pods are not NAMESPACE_NAME_UID (e.g. '\\xff\\xfe_a_\(uid)'): ignored"])
        // A name made in code is shown as every cgroup name is.
        #expect(PodName(namespace: [0x61, 0x0a], name: [0xff]).description == "a\\x0a/\\xff")
    }

    @Test func aHugeEntryIsRefusedBeforeItIsSplit() {
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20) + Array("_b_\(uid)".utf8)
        let t = PodNames(entries: [huge])
        #expect(t.ignored == 1)
        #expect(t.ignoredExample?.count == huge.count)
    }

    @Test func aUIDNamedTwiceDifferentlyIsNotNamed() {
        let t = names(["default_a_\(uid)", "default_b_\(uid)", "default_c_\(uid)",
                       "default_x_\(uid.uppercased().replacingDashes())", "default_d_aaaaaaaa-0000-0000-0000-000000000000",
                       "default_d_aaaaaaaa-0000-0000-0000-000000000000"])
        #expect(t[uid] == nil)
        #expect(t.conflicting == 1)
        #expect(t.ignored == 1)  // the underscore form
        // The same entry twice (two listings merged) is the same name.
        #expect(t["aaaaaaaa-0000-0000-0000-000000000000"]?.description == "default/d")
        // Upper and lower case are the same UID.
        let c = names(["default_a_\(uid)", "default_b_\(uid.uppercased())"])
        #expect(c[uid] == nil && c.conflicting == 1)
    }

    @Test func aUIDInDashAndUnderscoreFormNamesThePodOfTheDashForm() {
        let t = names(["default_web_\(uid)", "default_other_\(uidSystemd)"])
        #expect(t.count == 1 && t.ignored == 1 && t.conflicting == 0)
        // The systemd driver's cgroup writes the UID with underscores: it finds the dash form.
        let pod = CgroupPath("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice")!
        #expect(t.podLabels(for: pod) == PodLabels(uid: uid, qos: .burstable, name: PodName(namespace: "default", name: "web")))
    }

    @Test func labelsOfGroupsInAndOutOfPods() {
        let t = names(["shop_cart-0_\(uid)"])
        let systemd = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice"
        let container = t.podLabels(for: CgroupPath(systemd + "/cri-containerd-\(ctr).scope/deeper")!)
        #expect(container?.qualifiedName == "shop/cart-0")
        #expect(container?.namespace == "shop" && container?.podName == "cart-0" && container?.qos == .besteffort)
        #expect(container?.display == "shop/cart-0")
        let cgroupfs = t.podLabels(for: CgroupPath("/kubepods/pod\(uid)/\(ctr)")!)
        #expect(cgroupfs?.qualifiedName == "shop/cart-0" && cgroupfs?.qos == .guaranteed)
        // A pod the table does not name keeps its UID.
        let unnamed = PodNames.empty.podLabels(for: CgroupPath(systemd)!)
        #expect(unnamed?.uid == uid && unnamed?.name == nil && unnamed?.qualifiedName == nil && unnamed?.display == "0f1e2d3c")
        #expect(t.podLabels(for: CgroupPath("/kubepods.slice/kubepods-besteffort.slice")!) == nil)
        #expect(t.podLabels(for: CgroupPath("/system.slice/shop_cart-0_\(uid).service")!) == nil)
        #expect(t.podLabels(for: .root) == nil)
        // Through the snapshot that carries the table.
        let s = Snapshot(root: "/", time: Timestamp(monotonicNanos: 0, wallNanos: 0),
                         system: SystemSnapshot(meminfo: MemInfo(memTotal: 1, memAvailable: 1, swapTotal: 0, swapFree: 0),
                                                pressure: nil, oomKill: nil),
                         cgroups: [], pods: t)
        #expect(s.podLabels(for: CgroupPath(systemd)!)?.qualifiedName == "shop/cart-0")
    }

    @Test func warnings() {
        var t = PodNames(entries: [Array("default_a_\(uid)".utf8), Array("default_b_\(uid)".utf8)], directory: "/logs")
        t.truncatedAt = 2
        t.problem = nil
        #expect(t.warnings == [
            "pod names: /logs has more than 2 entries; only 2 are read, the pods of the others are shown by UID",
            "pod names: 1 pod UID of /logs has more than one name: shown by UID",
        ])
        var p = PodNames.empty
        p.problem = "cannot open /logs: Permission denied (openat)"
        #expect(p.warnings == ["pod names: cannot open /logs: Permission denied (openat); pods are shown by UID"])
    }

    @Test func twentyThousandEntries() {
        let entries = (0..<20_000).map { i -> [UInt8] in
            let hex = String(i, radix: 16)
            return Array("ns-\(i % 50)_pod-\(i)_\(String(repeating: "0", count: 12 - hex.count))\(hex)-0000-0000-0000-000000000000".utf8)
        }
        let t = PodNames(entries: entries)
        #expect(t.count == 20_000)
        #expect(t["000000001234-0000-0000-0000-000000000000"]?.description == "ns-\(0x1234 % 50)/pod-\(0x1234)")
    }
}

@Suite struct ContainerIdentityTests {
    func container(_ p: String) -> ContainerIdentity? { GroupIdentity(path: CgroupPath(p)!).container }

    @Test func podmanAndDockerScopes() {
        #expect(container("/machine.slice/libpod-\(ctr).scope") == ContainerIdentity(runtime: "podman", id: ctr))
        #expect(container("/machine.slice/libpod-\(ctr).scope")?.description == "podman 3b9a0c4d1e2f")
        // Podman runs the container in a group below its scope: the same container.
        #expect(container("/machine.slice/libpod-\(ctr).scope/container") == ContainerIdentity(runtime: "podman", id: ctr))
        // conmon watches the container from a scope of its own: not the container.
        let conmon = container("/machine.slice/libpod-conmon-\(ctr).scope")
        #expect(conmon == ContainerIdentity(runtime: "podman", id: ctr, isMonitor: true))
        #expect(conmon?.description == "conmon 3b9a0c4d1e2f")
        #expect(container("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(ctr).scope")?.runtime == "podman")
        #expect(container("/system.slice/docker-\(ctr).scope") == ContainerIdentity(runtime: "docker", id: ctr))
        #expect(GroupIdentity(path: CgroupPath("/system.slice/docker-\(ctr).scope")!).unit == "docker-\(ctr).scope")
    }

    @Test func cgroupfsForms() {
        #expect(container("/docker/\(ctr)") == ContainerIdentity(runtime: "docker", id: ctr))
        #expect(container("/docker/\(ctr)/init") == ContainerIdentity(runtime: "docker", id: ctr))
        #expect(container("/libpod_parent/libpod-\(ctr)") == ContainerIdentity(runtime: "podman", id: ctr))
        // Docker in Docker: the innermost container.
        let inner = String(ctr.reversed())
        #expect(container("/docker/\(ctr)/docker/\(inner)")?.id == inner)
        #expect(container("/docker") == nil)
        #expect(container("/docker/notanid") == nil)
        #expect(container("/other/\(ctr)") == nil)
    }

    @Test func criRuntimesInPods() {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice"
        #expect(container(pod + "/cri-containerd-\(ctr).scope") == ContainerIdentity(runtime: "containerd", id: ctr))
        #expect(container(pod + "/crio-\(ctr).scope") == ContainerIdentity(runtime: "crio", id: ctr))
        let conmon = GroupIdentity(path: CgroupPath(pod + "/crio-conmon-\(ctr).scope")!)
        #expect(conmon.container == ContainerIdentity(runtime: "crio", id: ctr, isMonitor: true))
        #expect(conmon.kubernetes == KubernetesIdentity(level: .container, qos: .burstable, podUID: uid, containerID: ctr, runtime: "crio"))
        // kubelet's cgroupfs driver: the pod level tells it is a container, not which runtime.
        #expect(container("/kubepods/burstable/pod\(uid)/\(ctr)") == ContainerIdentity(runtime: nil, id: ctr))
        #expect(container("/kubepods/burstable/pod\(uid)/\(ctr)")?.description == "ctr 3b9a0c4d1e2f")
        #expect(container(pod) == nil)
    }

    @Test(arguments: [
        "/system.slice/docker.service", "/system.slice/docker-compose.scope", "/system.slice/docker-.scope",
        "/system.slice/docker-3b9a0c4d1e2.scope",            // 11 digits
        "/system.slice/docker-3B9A0C4D1E2F.scope",           // not as the runtime writes it
        "/system.slice/docker-\(ctr).service", "/system.slice/podman-\(ctr).scope",
        "/machine.slice/libpod-conmon-.scope", "/machine.slice/libpod-\(ctr)", "/libpod_parent/conmon",
        "/system.slice/docker-\(String(repeating: "a", count: 129)).scope",
    ])
    func notContainers(path: String) {
        #expect(container(path) == nil)
    }

    @Test func nonASCIINamesAreNoContainers() {
        var bytes = Array("docker-".utf8) + Array(ctr.utf8) + Array(".scope".utf8)
        bytes[10] = 0xff
        #expect(GroupIdentity(path: CgroupPath(names: [CgroupName("system.slice"), CgroupName(bytes: bytes)])).container == nil)
        #expect(GroupIdentity(path: CgroupPath(names: [CgroupName(bytes: [0xff]), CgroupName("docker-\(ctr).scope")])).container?.id == ctr)
    }
}

@Suite struct PodEventTests {
    func kill() -> GuardEvent {
        let path = CgroupPath("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice")!
        var e = GuardEvent(kind: .kill, time: Timestamp(monotonicNanos: 1, wallNanos: 2), guardName: "pods",
                           cgroup: path, cgroupID: 7, reason: "node_available_below", method: "cgroup.kill")
        e.pod = names(["shop_cart-0_\(uid)"]).podLabels(for: path)
        return e
    }

    @Test func journalFieldsAndMessageNameThePod() {
        let e = kill()
        let f = e.fields
        #expect(f.contains { $0 == ("CGWARDEN_POD_UID", uid) })
        #expect(f.contains { $0 == ("CGWARDEN_POD", "shop/cart-0") })
        #expect(f.contains { $0 == ("CGWARDEN_POD_NAMESPACE", "shop") })
        #expect(e.message.hasPrefix("guard 'pods': killed /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice (pod shop/cart-0) via cgroup.kill"))
    }

    @Test func jsonFields() throws {
        let j = kill().json
        #expect(j["pod_uid"]?.stringValue == uid)
        #expect(j["pod_namespace"]?.stringValue == "shop")
        #expect(j["pod_name"]?.stringValue == "cart-0")
        let keys = try #require(j.objectValue?.map(\.0))
        #expect(Array(keys[3...8]) == ["guard", "cgroup", "id", "pod_uid", "pod_namespace", "pod_name"])
        // Unnamed: the UID from the path; outside pods: nulls.
        var unnamed = kill()
        unnamed.pod = nil
        #expect(unnamed.json["pod_uid"]?.stringValue == uid && unnamed.json["pod_name"]?.isNull == true)
        #expect(!unnamed.fields.contains { $0.0 == "CGWARDEN_POD" })
        #expect(!unnamed.message.contains("(pod "))
        let other = GuardEvent(kind: .kill, time: Timestamp(monotonicNanos: 1, wallNanos: 2), cgroup: CgroupPath("/a.slice")!)
        #expect(other.json["pod_uid"]?.isNull == true && other.json["pod_namespace"]?.isNull == true)
    }
}

private extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
