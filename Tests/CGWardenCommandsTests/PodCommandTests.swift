import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenTestSupport

private let uidA = "0b1c2d3e-4f50-4162-8374-8596a7b8c9d0"
private let uidB = "1c2d3e4f-5061-4273-8485-96a7b8c9d0e1"
private let uidC = "2d3e4f50-6172-4384-9596-a7b8c9d0e1f2"
private let ctr = "3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

private func systemd(_ uid: String) -> String { String(uid.map { $0 == "-" ? "_" : $0 }) }

/// A node with three pods (two named by the kubelet's log directories, one
/// not) and a Podman container with its conmon.
func podNode() -> (tree: FixtureTree, logs: String) {
    let t = FixtureTree()  // removed with its pod log directory when released
    var kp = FixtureGroup()
    kp.current = String(950 << 20)
    kp.max = String(1000 << 20)
    t.add("/kubepods.slice", kp)
    t.add("/kubepods.slice/kubepods-besteffort.slice")
    t.add("/kubepods.slice/kubepods-burstable.slice")
    func pod(_ path: String, mib: UInt64, pid: Int32) {
        var g = FixtureGroup()
        g.current = String(mib << 20)
        g.populated = true
        t.add(path, g)
        g.procs = [pid]
        t.add(path + "/cri-containerd-\(ctr).scope", g)
    }
    pod("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(systemd(uidA)).slice", mib: 100, pid: 601)
    pod("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemd(uidB)).slice", mib: 600, pid: 602)
    pod("/kubepods.slice/kubepods-pod\(systemd(uidC)).slice", mib: 200, pid: 603)
    t.add("/machine.slice")
    t.add("/machine.slice/libpod-\(ctr).scope")
    t.add("/machine.slice/libpod-\(ctr).scope/container")
    t.add("/machine.slice/libpod-conmon-\(ctr).scope")
    let logs = t.addPodLogs(["shop_cart-0_\(uidA)", "shop_db-0_\(uidB)", "lost+found"])
    return (t, logs)
}

@Suite struct PodCommandTests {
    @Test func statusNamesPodsAndContainers() {
        let (t, logs) = podNode()
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc, "--pod-logs", logs])
        #expect(r.code == 0)
        #expect(r.err == "cgwarden: warning: pod names: 1 entry of \(logs) is not NAMESPACE_NAME_UID (e.g. 'lost+found'): ignored\n")
        let names = r.out.split(separator: "\n").dropFirst(3).map { String($0.prefix(32)).trimmingTrailingSpaces() }
        #expect(names == [
            "/",
            "├─ kubepods.slice",
            "│  ├─ kubepods-besteffort.slice",
            "│  │  └─ pod shop/cart-0",
            "│  │     └─ ctr 3b9a0c4d1e2f",
            "│  ├─ kubepods-burstable.slice",
            "│  │  └─ pod shop/db-0",
            "│  │     └─ ctr 3b9a0c4d1e2f",
            "│  └─ pod 2d3e4f50 guaranteed",
            "│     └─ ctr 3b9a0c4d1e2f",
            "└─ machine.slice",
            "   ├─ podman 3b9a0c4d1e2f",
            "   │  └─ container",
            "   └─ conmon 3b9a0c4d1e2f",
        ])
        // Without the directory: by UID, as before, and nothing to warn about.
        let none = runCLI(["status", "--root", t.root, "--proc", t.proc, "--pod-logs", t.dir.path + "/nothing"])
        #expect(none.err == "")
        #expect(none.out.contains("pod 0b1c2d3e besteffort"))
        #expect(!none.out.contains("shop/"))
    }

    @Test func statusJSONHasTheNamesBesideTheUID() throws {
        let (t, logs) = podNode()
        let r = runCLI(["status", "--json", "--root", t.root, "--proc", t.proc, "--pod-logs", logs])
        let groups = try #require(try JSON.parse(r.out)["cgroups"]?.arrayValue)
        func group(_ suffix: String) throws -> JSON {
            try #require(groups.first { $0["path"]?.stringValue?.hasSuffix(suffix) == true }, "\(suffix)")
        }
        let cart = try group("pod\(systemd(uidA)).slice")["kubernetes"]
        #expect(cart?.objectValue?.map(\.0) == ["level", "pod_uid", "pod_namespace", "pod_name", "qos", "container_id", "runtime"])
        #expect(cart?["pod_uid"]?.stringValue == uidA)
        #expect(cart?["pod_namespace"]?.stringValue == "shop")
        #expect(cart?["pod_name"]?.stringValue == "cart-0")
        let container = try group("pod\(systemd(uidB)).slice/cri-containerd-\(ctr).scope")
        #expect(container["kubernetes"]?["pod_name"]?.stringValue == "db-0")
        #expect(container["container"]?["runtime"]?.stringValue == "containerd")
        #expect(container["container"]?["id"]?.stringValue == ctr)
        let unnamed = try group("pod\(systemd(uidC)).slice")["kubernetes"]
        #expect(unnamed?["pod_uid"]?.stringValue == uidC && unnamed?["pod_name"]?.isNull == true)
        let podman = try group("libpod-\(ctr).scope/container")["container"]
        #expect(podman?["runtime"]?.stringValue == "podman" && podman?["conmon"]?.boolValue == false)
        #expect(try group("libpod-conmon-\(ctr).scope")["container"]?["conmon"]?.boolValue == true)
        #expect(try group("/machine.slice")["container"]?.isNull == true)
    }

    @Test func explainNamesTheVictimAndTheCandidates() throws {
        let (t, logs) = podNode()
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/cgwarden.toml", """
            [[guard]]
            name = "pods"
            match = "/kubepods.slice"
            candidates = "pods"
            qos_order = true
            [[guard.trigger]]
            usage_of_limit = "90%"
            """)
        let args = ["explain", "--config", dir.path + "/cgwarden.toml", "--root", t.root, "--proc", t.proc, "--pod-logs", logs]
        let r = runCLI(args)
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n").map(String.init)
        let a = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(systemd(uidA)).slice"
        #expect(lines[1].hasPrefix("decision: kill \(a) (id "))
        #expect(lines[1].hasSuffix("), guard 'pods'  pod shop/cart-0"))
        #expect(r.out.contains("    1. \(a)  usage 100.0M  pod shop/cart-0\n"))
        #expect(r.out.contains("    2. /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemd(uidB)).slice  usage 600.0M  pod shop/db-0\n"))
        // The unnamed pod has no name to show.
        #expect(r.out.contains("    3. /kubepods.slice/kubepods-pod\(systemd(uidC)).slice  usage 200.0M\n"))

        let doc = try JSON.parse(runCLI(args + ["--json"]).out)
        let decision = try #require(doc["decision"])
        #expect(decision["victim"]?["pod_namespace"]?.stringValue == "shop")
        #expect(decision["victim"]?["pod_name"]?.stringValue == "cart-0")
        let candidates = try #require(decision["guards"]?[0]?["candidates"]?.arrayValue)
        #expect(candidates.map { $0["pod_name"]?.stringValue ?? "-" } == ["cart-0", "db-0", "-"])
        #expect(candidates[2]["pod_name"]?.isNull == true)
    }
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
