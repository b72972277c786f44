import ArgumentParser
import CGWardenCore
import CGWardenIO
import CGWardenService
import CGWardenSystem

extension StatusSort: ExpressibleByArgument {}

/// `cgwarden status`: where the memory of the node goes, per cgroup.
public struct Status: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show memory use, limits, pressure and OOM events per cgroup.",
        discussion: """
            Sizes are binary (1G = 2^30 bytes). USE is memory.current as a share of memory.max; \
            SOME and FULL are the memory PSI avg10 in percent; events are the non-zero counters \
            of memory.events (hierarchical: they include the group's descendants). \
            Exit status 2 when there is no cgroup v2 hierarchy with the memory controller at --root.
            """)

    @Argument(help: "Show only this cgroup and its subtree (a path below the root, e.g. /tenants.slice).")
    public var cgroup: String?

    @Option(help: "The cgroup v2 mount (or a fixture tree).")
    public var root: String = "/sys/fs/cgroup"

    @Option(help: "The proc file system (or a fixture directory).")
    public var proc: String = "/proc"

    @OptionGroup public var pods: PodLogOptions

    @Option(help: "Levels shown below the top group (0: the top group only).")
    public var depth: Int?

    @Option(help: "Order of siblings: \(StatusSort.allCases.map(\.rawValue).joined(separator: "|")).")
    public var sort: StatusSort = .name

    @Flag(help: "List each group's processes with RSS, oom_score and oom_score_adj.")
    public var procs = false

    @Flag(help: "One JSON document (Docs/status-json.md).")
    public var json = false

    @Flag(help: "Debug lines on standard error: groups that vanished during the walk (normal on a busy node).")
    public var verbose = false

    @OptionGroup public var state: StateOptions

    public init() {}

    public func validate() throws {
        if let depth, depth < 0 { throw ValidationError("--depth must be 0 or more, not \(depth)") }
        if let cgroup, case .failure(let problem) = CgroupPath.parse(cgroup) {
            throw ValidationError("'\(PathText.escape(cgroup))' is not a cgroup path below the root: \(problem)")
        }
    }

    public func execute(_ console: Console) throws -> Int32 {
        let procReader = ProcReader(proc: proc)
        let check = HierarchyCheck.examine(root)
        if case .unavailable(let why) = check {
            console.error("cgwarden: \(why)")
            // Still show the node figures: they do not need cgroups.
            if let system = try? procReader.system() {
                if json {
                    console.line(JSON.object([("root", .string(root)), ("system", system.json),
                                              ("cgroups", .array([])), ("error", .string(why))]).serialized())
                } else {
                    console.out(StatusView.summary(system).joined(separator: "\n"))
                }
            }
            return ExitStatus.noCgroup2
        }

        let top = cgroup.flatMap(CgroupPath.init) ?? .root
        let system: SystemSnapshot
        do {
            system = try procReader.system()
        } catch {
            throw CommandFailure("\(error)")
        }
        let clock = SystemClock()
        let time = clock.now()
        let walk: WalkResult
        do {
            walk = try Walker(root: root).walk(subtree: top, maxDepth: depth,
                                               fields: procs ? SnapshotFields.status.union(.procs) : .status)
        } catch {
            throw CommandFailure(error.message)
        }
        for problem in walk.problems { console.error("cgwarden: warning: \(problem)") }
        for cut in walk.cut {
            console.error("cgwarden: warning: the groups below \(cut) are not listed: their paths would be longer "
                          + "than \(WalkLimits.maxPathBytes) bytes (their memory counts in \(cut))")
        }
        if verbose {
            for gone in walk.vanished { console.error("cgwarden: debug: \(gone) vanished during the walk; skipped") }
        }
        let names = PodLogReader(directory: pods.podLogs).read(at: time)
        console.warn(names)
        let snapshot = Snapshot(root: root, time: time, system: system, cgroups: walk.cgroups, pods: names)

        var processes: [CgroupPath: [ProcessInfo]]?
        if procs {
            var map: [CgroupPath: [ProcessInfo]] = [:]
            for g in walk.cgroups {
                map[g.path] = (g.procs ?? []).compactMap { procReader.process($0) }
            }
            processes = map
        }

        if json {
            writeJSON(snapshot, processes: processes, walk: walk, to: console)
        } else {
            var view = StatusView(snapshot: snapshot, top: top, sort: sort, processes: processes)
            view.history = history(since: time.wallNanos.subtractingSaturated(StatusView.historyWindow), console: console)
            console.out(view.render())
        }
        // Something not read is said above, and in the status.
        return walk.problems.isEmpty && walk.cut.isEmpty ? ExitStatus.success : ExitStatus.failure
    }

    /// The OOM events of the last day per group, when there is a store;
    /// nothing (and nothing said) when there is none.
    func history(since: UInt64, console: Console) -> [CgroupPath: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]] {
        do {
            return try EventHistory(directory: StateDirectory.storeDirectoryToRead(state.stateDirectory)).oomSummary(since: since)
        } catch .missing {
            return [:]
        } catch {
            console.error("cgwarden: warning: no event history: \(error)")
            return [:]
        }
    }

    /// Streams the document one group per line, so that 10,000 groups never
    /// sit in memory as one string.
    func writeJSON(_ s: Snapshot, processes: [CgroupPath: [ProcessInfo]]?, walk: WalkResult, to console: Console) {
        console.out("{\"root\": " + JSON.string(s.root).serialized() + ",\n \"system\": " + s.system.json.serialized()
                    + ",\n \"cgroups\": [")
        for (i, g) in s.cgroups.enumerated() {
            let line = g.json(processes: processes.map { $0[g.path] ?? [] }, pods: s.pods).serialized()
            console.out((i == 0 ? "\n  " : ",\n  ") + line)
        }
        let problems = walk.problems.map { JSON.object([("cgroup", .string($0.cgroup.description)),
                                                         ("message", .string($0.description))]) }
            + walk.cut.map { JSON.object([("cgroup", .string($0.description)),
                                          ("message", .string("children not listed: paths over \(WalkLimits.maxPathBytes) bytes"))]) }
        console.out("\n],\n \"problems\": " + JSON.array(problems).serialized() + "}\n")
    }
}
