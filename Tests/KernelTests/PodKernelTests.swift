#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport

/// Pods named on a real kernel: a cgroup tree shaped as a kubelet (systemd
/// driver) makes it, a pod log directory as the kubelet keeps it, and the
/// daemon's kill event names the pod it killed.
@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct PodKernelTests {
    @Test func theDaemonsKillEventNamesThePod() throws {
        let uid = "0b1c2d3e-4f50-4162-8374-8596a7b8c9d0"
        let g = try TestCgroup("run-pods")
        let (kp, pod, container) = try kubeletTree(g, qos: "besteffort", uid: uid,
                                                   container: "3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b")
        try g.write(kp + "/memory.max", "128M")
        // The pod's log directory comes when the pod starts, after the daemon
        // listed the directory: the listing follows the directory's changes.
        let logs = TempDir("cgwarden-pod-logs")
        defer { logs.remove() }
        chmod(logs.path, 0o755)  // the daemon lists it after dropping to its user
        mkdir(logs.path + "/kube-system_coredns-5d78c9869d-abcde_1c2d3e4f-5061-4273-8485-96a7b8c9d0e1", 0o755)
        let daemon = try DaemonRun("pods", config: """
            [[guard]]
            name = "pods"
            match = "\(g.path)/kubepods.slice"
            candidates = "pods"
            post_action_delay = "60s"
            [[guard.trigger]]
            usage_of_limit = "40%"
            """, arguments: ["--pod-logs", logs.path])
        try daemon.started()
        mkdir(logs.path + "/shop_cart-0_\(uid)", 0o755)
        mkdir(logs.path + "/shop_cart-0_\(uid)/app", 0o755)
        let load = try allocate(g.dir + "/" + container, mib: 64)
        let kill = try #require(daemon.waitFor("kill", seconds: 60), "no kill:\n\(daemon.log)")
        #expect(kill.cgroup == g.path + "/" + pod, "\(kill)")
        #expect(kill["pod_uid"]?.stringValue == uid)
        #expect(kill["pod_namespace"]?.stringValue == "shop")
        #expect(kill["pod_name"]?.stringValue == "cart-0")
        #expect(kill["message"]?.stringValue?.contains("\(pod) (pod shop/cart-0) in ") == true, "\(kill)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(!daemon.events("problem").contains { $0["reason"]?.stringValue?.hasPrefix("pod names") == true }, "\(daemon.log)")
        print("run e2e pods: killed \(kill["pod_namespace"]?.stringValue ?? "-")/\(kill["pod_name"]?.stringValue ?? "-") "
              + "(\(mib(Int64(kill["memory_before"]?.uint64Value ?? 0))), \(millis(kill["duration_ns"]?.uint64Value ?? 0)))")
        #expect(daemon.stop().status == .exited(0))
    }

    /// A container the kernel OOM-kills at its own memory.max: the `oom`
    /// event names the pod, as a kill by a guard does.
    @Test func aKernelOOMEventNamesThePod() throws {
        let uid = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
        let g = try TestCgroup("run-pod-oom")
        let (kp, _, container) = try kubeletTree(g, qos: "burstable", uid: uid,
                                                 container: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        try g.write(container + "/memory.max", "32M")
        try g.write(container + "/memory.swap.max", "0")
        let logs = TempDir("cgwarden-pod-oom-logs")
        defer { logs.remove() }
        chmod(logs.path, 0o755)
        mkdir(logs.path + "/batch_report-7f9c_\(uid)", 0o755)
        // A guard that never fires: the kernel acts alone.
        let daemon = try DaemonRun("pod-oom", config: """
            [[guard]]
            name = "quiet"
            match = "\(g.path)/\(kp)"
            [[guard.trigger]]
            usage_above = "1G"
            """, arguments: ["--pod-logs", logs.path])
        try daemon.started()
        let load = try allocate(g.dir + "/" + container, mib: 64, step: 4)
        #expect(load.wait(seconds: 60) == .signaled(SIGKILL), "the kernel did not kill the allocator")
        let oom = try #require(daemon.waitFor("oom", seconds: 30) { $0.cgroup == g.path + "/" + container },
                               "no oom event:\n\(daemon.log)")
        #expect(oom["pod_uid"]?.stringValue == uid, "\(oom)")
        #expect(oom["pod_namespace"]?.stringValue == "batch")
        #expect(oom["pod_name"]?.stringValue == "report-7f9c")
        #expect(daemon.events("kill").isEmpty)
        print("run e2e pods: the kernel's OOM kill in \(oom["pod_namespace"]?.stringValue ?? "-")/\(oom["pod_name"]?.stringValue ?? "-")")
        #expect(daemon.stop().status == .exited(0))
    }
}

/// kubepods.slice, its QoS slice, a pod and a containerd container, as the
/// kubelet's systemd driver names them; the paths below `g`.
private func kubeletTree(_ g: TestCgroup, qos: String, uid: String, container id: String) throws
    -> (kubepods: String, pod: String, container: String) {
    let kp = "kubepods.slice"
    let pod = kp + "/kubepods-\(qos).slice/kubepods-\(qos)-pod\(uid.replacingOccurrences("-", "_")).slice"
    let container = pod + "/cri-containerd-\(id).scope"
    for d in [kp, kp + "/kubepods-\(qos).slice", pod] { try g.child(d, controllers: "+memory +pids") }
    try g.child(container)
    return (kp, pod, container)
}

private extension String {
    func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}
