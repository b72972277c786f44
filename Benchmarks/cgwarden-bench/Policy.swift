#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenIO
import CGWardenPolicy
import CGWardenSystem

/// `cgwarden-bench policy`: the cost of a decision beside the cost of the
/// snapshot it is made on.
enum PolicyBenchmark {
    /// The evaluator as the daemon runs it: it also lists the groups near a
    /// threshold (`DaemonTunables.fastSamplingHeadroom`, 0.5).
    static func daemonEvaluator(_ config: Config) -> Evaluator {
        var e = Evaluator(config: config, ownCgroup: nil)
        e.nearHeadroom = 0.5
        return e
    }

    /// 20 guards of every trigger kind, scope and rank, over the bench tree;
    /// several fire at every snapshot so that ranking runs too.
    static func rules(top: String) -> String {
        var t = "protect = [\"\(top)/g0/g0\"]\n"
        let triggers = [
            "usage_of_limit = \"90%\"\nfor = \"10s\"", "usage_above = \"0\"", "pressure_above = \"20%\"\nfor = \"5s\"",
            "node_available_below = \"99%\"", "node_swap_free_below = \"10%\"", "node_pressure_above = \"60%\"\npressure = \"full\"\nfor = \"30s\"",
            "events_per_second_above = 10\nevent = \"max\"", "oom_kill = true",
            "usage_of_limit = \"80%\"\nlimit = \"high\"\ncount = \"unreclaimable\"", "usage_above = \"1G\"\ncount = \"unreclaimable\"\nfor = \"1m\"",
        ]
        let matches = ["\(top)/*", "\(top)/**", "\(top)/g1/*", "\(top)/*/g2/**", "\(top)/g?/g?"]
        let scopes = ["self", "children", "leaves", "self", "children"]
        let ranks = ["usage", "usage_above_protection", "growth", "pressure", "swap"]
        for i in 0..<20 {
            t += """

                [[guard]]
                name = "g\(i)"
                match = "\(matches[i % 5])"
                candidates = "\(scopes[(i / 5) % 5])"
                rank = "\(ranks[i % 5])"
                avoid = ["\(top)/g3/**"]
                [[guard.trigger]]
                \(triggers[i % 10])
                [[guard.trigger]]
                \(triggers[(i + 3) % 10])

                """
        }
        return t
    }

    static func run(groups n: Int) throws {
        let tree = try BenchTree(groups: n)
        defer { tree.remove() }
        let top = "/" + tree.relative
        let config = try ConfigLoader.load([(name: "bench.toml", text: rules(top: top))])
        let evaluator = daemonEvaluator(config)
        let sampler = Sampler(root: "/sys/fs/cgroup", keepOpen: [.usage, .limits, .events, .pressure, .populated])
        let proc = ProcReader()
        let clock = SystemClock()
        var state = PolicyState()
        var walks: [Double] = [], evals: [Double] = []
        var fired = 0, candidates = 0
        // 60 s of history: 12 snapshots stamped 5 s apart (a real 10,000-group
        // walk takes seconds under emulation), then 5 measured.
        let start = clock.now()
        let step: UInt64 = 5_000_000_000
        for i in 0..<17 {
            var snapshot: Snapshot?
            let w = time {
                let walk = try? sampler.sample(subtree: CgroupPath(top)!, fields: .policy)
                let system = try? proc.system()
                if let walk, let system {
                    let t = Timestamp(monotonicNanos: start.monotonicNanos + UInt64(i) * step,
                                      wallNanos: start.wallNanos + UInt64(i) * step)
                    snapshot = Snapshot(root: "/sys/fs/cgroup", time: t, system: system, cgroups: walk.cgroups)
                }
            }
            guard let s = snapshot else { throw BenchError("snapshot failed") }
            var d: Decision?
            let e = time { (d, state) = evaluator.evaluate(s, state: state) }
            if i >= 12 {
                walks.append(w)
                evals.append(e)
                fired = d!.guards.filter(\.fired).count
                candidates = d!.guards.reduce(0) { $0 + $1.candidates.count }
            }
        }
        let w = median(walks), e = median(evals)
        print("# 20 guards over \(n + 1) cgroups after 60 s of history (\(fired) guards firing, \(candidates) candidates ranked); median of 5")
        print("")
        print("| groups | snapshot (sampler, policy fields) µs | evaluation µs | evaluation / snapshot |")
        print("|---:|---:|---:|---:|")
        print("| \(n) | \(fmt(w, 0)) | \(fmt(e, 0)) | \(fmt(e / w * 100, 1))% |")
    }
}

extension PolicyBenchmark {
    /// Host-only: the same 20 guards over a synthetic snapshot of the same
    /// shape (no cgroupfs needed), for perf/callgrind.
    static func profile(groups n: Int, times: Int) throws {
        let top = "/cgw-bench"
        var paths: [CgroupPath] = [CgroupPath(top)!]
        var b = 1
        while (1...5).reduce(0, { $0 + Int(pow(Double(b), Double($1))) }) < n { b += 1 }
        var frontier = [paths[0]]
        level: for _ in 1...5 {
            var next: [CgroupPath] = []
            for p in frontier { for i in 0..<b { if paths.count > n { break level }; let c = p.appending("g\(i)"); next.append(c); paths.append(c) } }
            frontier = next
        }
        let ev = MemoryEvents(KeyedCounters(["low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0, "oom_group_kill": 0]))
        func snapshot(_ t: Int) -> Snapshot {
            let groups = paths.enumerated().map { i, p in
                CgroupSnapshot(path: p, id: UInt64(i + 2),
                               memory: MemoryState(current: UInt64(i * 4096 + t * 100), max: .max, high: .max, low: .bytes(0), min: .bytes(0),
                                                   swapCurrent: 0, swapMax: .max, events: ev, eventsLocal: ev,
                                                   stat: KeyedCounters(["anon": 4096, "file": 0])),
                               pressure: Pressure(some: PressureLine(), full: PressureLine()),
                               events: CgroupEvents(populated: true, frozen: false), nrProcs: 1,
                               attributes: CgroupAttributes(ownerUID: 0, values: [:]))
            }
            return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: UInt64(t) * 1_000_000_000, wallNanos: 0),
                            system: SystemSnapshot(meminfo: MemInfo(memTotal: 1 << 32, memAvailable: 1 << 30, swapTotal: 0, swapFree: 0),
                                                   pressure: Pressure(some: PressureLine(), full: PressureLine()), oomKill: 0),
                            cgroups: [CgroupSnapshot(path: .root, id: 1)] + groups)
        }
        let config = try ConfigLoader.load([(name: "bench.toml", text: rules(top: top))])
        let evaluator = daemonEvaluator(config)
        var state = PolicyState()
        for t in 0..<60 { state = evaluator.evaluate(snapshot(t), state: state).1 }
        let s = snapshot(60)
        var d: Decision?
        let us = time { for _ in 0..<times { (d, _) = evaluator.evaluate(s, state: state) } }
        print("\(paths.count) groups, \(d!.guards.filter(\.fired).count) guards firing: \(fmt(us / Double(times), 0)) µs per evaluation")
    }
}
