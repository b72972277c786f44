#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import CGWardenCore
import CGWardenIO
import CGWardenTestSupport

/// `cgwarden status --json` of one group, run as the operator would run it.
func statusJSON(_ path: String, extra: [String] = []) throws -> JSON {
    let r = try run([cgwardenBinary, "status", path, "--json"] + extra)
    guard r.status == .exited(0) else {
        throw KernelTestError("cgwarden status \(path) ended with \(r.status): \(r.stderr)")
    }
    return try JSON.parse(r.stdout)
}

func group(_ doc: JSON, _ path: String) throws -> JSON {
    let groups = try #require(doc["cgroups"]?.arrayValue)
    return try #require(groups.first { $0["path"]?.stringValue == path }, "no \(path) in status output")
}

@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct StatusKernelTests {

    @Test func oomKillInAGroupShowsInStatus() throws {
        let g = try TestCgroup("oom")
        let t = try g.child("tenant")
        try g.write("tenant/memory.max", "64M")
        try g.write("tenant/memory.swap.max", "0")
        // Asks for 256 MiB (bounded): the kernel must kill it at 64 MiB.
        let load = try Child([testloadBinary, "alloc", "--cgroup", t, "--mib", "256", "--step-mib", "4", "--hold-s", "30"])
        let end = try #require(load.wait(seconds: 120), "allocator still running after 120 s")
        #expect(end == .signaled(SIGKILL))

        let doc = try statusJSON(g.path)
        let tenant = try group(doc, g.path + "/tenant")
        #expect(tenant["memory"]?["max"]?.uint64Value == 64 << 20)
        #expect(tenant["memory"]?["swap_max"]?.uint64Value == 0)
        #expect((tenant["memory"]?["peak"]?.uint64Value ?? 0) > 48 << 20, "peak usage should reach near the limit")
        #expect((tenant["memory"]?["current"]?.uint64Value ?? .max) <= 64 << 20)
        #expect((tenant["events"]?["oom_kill"]?.uint64Value ?? 0) >= 1)
        #expect((tenant["events"]?["oom"]?.uint64Value ?? 0) >= 1)
        #expect((tenant["events"]?["max"]?.uint64Value ?? 0) >= 1)
        #expect((tenant["events_local"]?["oom_kill"]?.uint64Value ?? 0) >= 1)
        #expect(tenant["populated"]?.boolValue == false)
        // Hierarchical: the parent counts its child's kill; its own local counter does not.
        let parent = try group(doc, g.path)
        #expect((parent["events"]?["oom_kill"]?.uint64Value ?? 0) >= 1)
        #expect(parent["events_local"]?["oom_kill"]?.uint64Value == 0)

        // The human view shows the kill on the tenant's events line.
        let human = try run([cgwardenBinary, "status", g.path])
        #expect(human.status == .exited(0))
        #expect(human.stdout.contains("oom_kill 1"))
        #expect(human.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 })
    }

    @Test func memoryHighThrottlingCountsHighEvents() throws {
        let g = try TestCgroup("high")
        let t = try g.child("tenant")
        try g.write("tenant/memory.high", "16M")
        try g.write("tenant/memory.swap.max", "0")
        // 24 MiB of anonymous memory against a 16 MiB high limit and no swap:
        // nothing can be reclaimed, so the kernel throttles the allocator at
        // every step above the limit (it is slowed, not killed).
        let load = try Child([testloadBinary, "alloc", "--cgroup", t, "--mib", "24", "--step-mib", "1", "--hold-s", "60"])
        let throttled = waitUntil(seconds: 60) { (g.value("tenant/memory.events", "high") ?? 0) >= 3 }
        #expect(throttled, "memory.events high stayed at \(g.value("tenant/memory.events", "high") ?? 0)")
        #expect(load.isRunning)
        let doc = try statusJSON(g.path + "/tenant")
        let tenant = try group(doc, g.path + "/tenant")
        #expect((tenant["events"]?["high"]?.uint64Value ?? 0) >= 3)
        #expect(tenant["memory"]?["high"]?.uint64Value == 16 << 20)
        #expect(tenant["events"]?["oom_kill"]?.uint64Value == 0)
        // Stalling in reclaim is memory pressure: PSI of the group has seen it.
        #expect((tenant["pressure"]?["some"]?["total"]?.uint64Value ?? 0) > 0)
    }

    @Test func processCountAndPIDs() throws {
        let g = try TestCgroup("pids")
        let t = try g.child("workers")
        try g.write("workers/pids.max", "100")
        let load = try Child([testloadBinary, "spawn", "--cgroup", t, "--count", "5", "--hold-s", "60"])
        #expect(waitUntil(seconds: 30) { (readFile(t + "/cgroup.procs") ?? "").split(separator: "\n").count == 6 })
        let doc = try statusJSON(g.path, extra: ["--procs"])
        let w = try group(doc, g.path + "/workers")
        #expect(w["nr_procs"]?.uint64Value == 6)
        #expect(w["populated"]?.boolValue == true)
        let procs = try #require(w["processes"]?.arrayValue)
        #expect(procs.count == 6)
        #expect(procs.contains { $0["pid"]?.int64Value == Int64(load.pid) })
        #expect(procs.allSatisfy { ($0["rss"]?.uint64Value ?? 0) > 0 && $0["oom_score_adj"]?.int64Value == 0 })
        #expect(try group(doc, g.path)["nr_procs"]?.uint64Value == 0)
    }

    @Test func kubernetesShapedSlices() throws {
        let g = try TestCgroup("k8s")
        let uid = "0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b"
        let ctr = String(repeating: "ab", count: 32)
        try g.child("kubepods.slice", controllers: "+memory +pids")
        try g.child("kubepods.slice/kubepods-burstable.slice", controllers: "+memory +pids")
        try g.child("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice", controllers: "+memory +pids")
        try g.child("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice/cri-containerd-\(ctr).scope")
        try g.child("kubepods.slice/kubepods-besteffort.slice")
        let doc = try statusJSON(g.path)
        let pod = try group(doc, g.path + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice")
        #expect(pod["kubernetes"]?["pod_uid"]?.stringValue == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
        #expect(pod["kubernetes"]?["qos"]?.stringValue == "burstable")
        #expect(pod["kubernetes"]?["level"]?.stringValue == "pod")
        #expect(pod["unit"]?.stringValue == "kubepods-burstable-pod\(uid).slice")
        #expect(pod["memory"]?["current"]?.uint64Value != nil)
        let c = try group(doc, g.path + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice/cri-containerd-\(ctr).scope")
        #expect(c["kubernetes"]?["container_id"]?.stringValue == ctr)
        #expect(c["kubernetes"]?["runtime"]?.stringValue == "containerd")
        let be = try group(doc, g.path + "/kubepods.slice/kubepods-besteffort.slice")
        #expect(be["kubernetes"]?["qos"]?.stringValue == "besteffort")
        #expect(be["kubernetes"]?["level"]?.stringValue == "qos")
    }

    @Test func memoryControllerOffIsNotZero() throws {
        let g = try TestCgroup("nomem", controllers: "+pids")
        try g.child("plain")
        let doc = try statusJSON(g.path)
        let plain = try group(doc, g.path + "/plain")
        #expect(plain["memory"]?.isNull == true)
        #expect(plain["events"]?.isNull == true)
        #expect(plain["pressure"]?["some"] != nil)
    }

    @Test func walkDuringChurnNeverFailsNorReportsHalfReadGroups() async throws {
        let g = try TestCgroup("churn")
        let churnRoot = g.dir
        let state = ChurnState()
        // Another thread creates and removes hundreds of groups (some nested)
        // while the walker runs.
        let churn = Task.detached {
            var i = 0
            while !state.stop.load(ordering: .relaxed) && i < 20000 {
                let a = churnRoot + "/c\(i % 40)"
                if mkdir(a, 0o755) == 0 {
                    _ = mkdir(a + "/n", 0o755)
                    state.made.add(1, ordering: .relaxed)
                }
                let b = churnRoot + "/c\((i + 20) % 40)"
                _ = rmdir(b + "/n")
                _ = rmdir(b)
                i += 1
            }
        }
        // Alternately a one-off walk and a sample through kept-open descriptors.
        let walker = Walker(root: KernelEnvironment.cgroupRoot)
        let sampler = Sampler(root: KernelEnvironment.cgroupRoot)
        let top = CgroupPath(g.path)!
        var walks = 0, seen = 0, vanished = 0
        let deadline = monotonicSeconds() + 20
        while monotonicSeconds() < deadline && walks < 200 {
            let r = walks % 2 == 0 ? try walker.walk(subtree: top, fields: .status)
                                   : try sampler.sample(subtree: top, fields: .status)
            walks += 1
            #expect(r.problems.isEmpty, "problems: \(r.problems)")
            for c in r.cgroups.dropFirst() {
                seen += 1
                // Everything asked for is there and consistent: nothing half-read.
                #expect(c.pressure != nil && c.events != nil && c.nrProcs == 0 && c.id > 1)
                if c.path.depth == top.depth + 1 {
                    let m = try #require(c.memory, "\(c.path) has no memory state")
                    #expect(m.current != nil && m.max == .max && m.high == .max && m.events != nil && m.eventsLocal != nil)
                } else {
                    #expect(c.memory == nil)  // c*/n: its parent enables no controller
                }
            }
            vanished += r.vanished.count
        }
        state.stop.store(true, ordering: .relaxed)
        await churn.value
        let made = state.made.load(ordering: .relaxed)
        #expect(walks >= 10)
        #expect(made >= 100, "the churn made only \(made) groups")
        #expect(seen > 0)
        print("churn: \(walks) walks, \(seen) groups read, \(vanished) vanished mid-walk, \(made) created")
    }
}

final class ChurnState: Sendable {
    let stop = Atomic<Bool>(false)
    let made = Atomic<Int>(0)
}
