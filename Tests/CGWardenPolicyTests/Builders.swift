import CGWardenCore
@testable import CGWardenPolicy

let MiB: UInt64 = 1 << 20

/// A group for policy tests: everything a real snapshot would have.
func group(_ path: String, id: UInt64, current: UInt64 = 10 * MiB, max: Limit = .max, high: Limit = .max,
           low: Limit = .bytes(0), min: Limit = .bytes(0), swap: UInt64 = 0,
           events: (high: UInt64, max: UInt64, oomKill: UInt64) = (0, 0, 0),
           some: Double = 0, full: Double = 0, someAvg60: Double = 0,
           populated: Bool = true, anon: UInt64? = nil, owner: UInt32 = 0, xattrs: [String: String] = [:],
           memory: Bool = true) -> CgroupSnapshot {
    let ev = MemoryEvents(KeyedCounters(["low": 0, "high": events.high, "max": events.max, "oom": events.oomKill,
                                         "oom_kill": events.oomKill, "oom_group_kill": 0]))
    var stat = KeyedCounters()
    stat = KeyedCounters(["anon": anon ?? current, "file": current - Swift.min(current, anon ?? current), "shmem": 0, "kernel": 0])
    let m = MemoryState(current: current, max: max, high: high, low: low, min: min, peak: current,
                        swapCurrent: swap, swapMax: .max, events: ev, eventsLocal: ev, stat: stat)
    return CgroupSnapshot(path: CgroupPath(path)!, id: id, memory: memory ? m : nil,
                          pressure: Pressure(some: PressureLine(avg10: some, avg60: someAvg60),
                                             full: PressureLine(avg10: full, avg60: 0)),
                          events: CgroupEvents(populated: populated, frozen: false), nrProcs: populated ? 1 : 0,
                          attributes: CgroupAttributes(ownerUID: owner, values: xattrs))
}

func system(total: UInt64 = 4096 * MiB, available: UInt64 = 2048 * MiB, swapTotal: UInt64 = 0, swapFree: UInt64 = 0,
            some: Double = 0, full: Double = 0) -> SystemSnapshot {
    SystemSnapshot(meminfo: MemInfo(memTotal: total, memAvailable: available, swapTotal: swapTotal, swapFree: swapFree),
                   pressure: Pressure(some: PressureLine(avg10: some), full: PressureLine(avg10: full)), oomKill: 0)
}

/// A snapshot at `seconds` on the fake clock.
func snapshot(at seconds: Double, _ groups: [CgroupSnapshot], system s: SystemSnapshot = system()) -> Snapshot {
    let ns = UInt64((seconds * 1e9).rounded())
    let root = CgroupSnapshot(path: .root, id: 1, pressure: nil, events: nil, nrProcs: 1)
    return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: ns, wallNanos: 1_800_000_000_000_000_000 + ns),
                    system: s, cgroups: [root] + groups)
}

func config(_ text: String) throws -> Config {
    try ConfigLoader.load([(name: "test.toml", text: text)])
}

/// Runs snapshots in order through one evaluator; returns every decision.
func run(_ cfg: Config, own: CgroupPath? = nil, _ snapshots: [Snapshot], state: PolicyState = PolicyState(),
         detail: Evaluator.Detail = .all) -> [Decision] {
    let e = Evaluator(config: cfg, ownCgroup: own, detail: detail)
    var st = state
    var out: [Decision] = []
    for s in snapshots {
        let (d, n) = e.evaluate(s, state: st)
        out.append(d)
        st = n
    }
    return out
}
