import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
import CGWardenCore
import CGWardenIO
import CGWardenPolicy
import CGWardenService
import CGWardenSystem

/// Loads the configuration: `--config FILE` and its drop-ins, or the default
/// path, or (when the default path does not exist) the built-in default.
func loadConfig(_ path: String?, console: Console) throws -> Config {
    let files: [(name: String, bytes: [UInt8])]
    do {
        files = try TextFiles.configuration(path ?? DefaultConfig.path)
    } catch {
        guard path == nil, error.errno == ENOENT else {
            throw CommandFailure("cannot read the configuration: \(error)")
        }
        console.error("cgwarden: \(DefaultConfig.path) does not exist; using the \(DefaultConfig.name)")
        files = [(name: DefaultConfig.name, bytes: Array(DefaultConfig.text.utf8))]
    }
    do {
        return try ConfigLoader.load(files)
    } catch {
        for e in error.errors { console.error(e.description) }
        throw CommandFailure("the configuration has \(error.errors.count) error\(error.errors.count == 1 ? "" : "s")")
    }
}

/// `500ms`, `10s`, `1.5s`, `5m`, `2h` (`Duration.parse`), shown as written (`Duration.text`).
extension Duration: @retroactive ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = Duration.parse(argument) else { return nil }
        self = v
    }

    public var defaultValueDescription: String { text }
}

/// `cgwarden check-config`: validates a configuration.
public struct CheckConfig: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration and its drop-ins; print every error, or what it guards.")

    @Argument(help: "The configuration file (default: /etc/cgwarden/cgwarden.toml); drop-ins in cgwarden.d/ beside it are merged.")
    public var file: String?

    public init() {}

    public func execute(_ console: Console) throws -> Int32 {
        let config = try loadConfig(file, console: console)
        console.line(CheckConfig.summary(config))
        return ExitStatus.success
    }

    static func summary(_ c: Config) -> String {
        let files = c.files.count == 1 ? c.files[0] : "\(c.files[0]) (+\(c.files.count - 1) drop-in\(c.files.count == 2 ? "" : "s"))"
        let guards = c.guards.map { "\($0.name) (\($0.match.map(\.text).joined(separator: ", ")))" }.joined(separator: "; ")
        return "\(files): OK: \(c.guards.count) guard\(c.guards.count == 1 ? "" : "s"): \(guards.isEmpty ? "none" : guards); "
            + "\(c.protect.count) protected pattern\(c.protect.count == 1 ? "" : "s"); interval \(c.daemon.interval.text)"
            + (c.daemon.dryRun ? "; dry run" : "")
    }
}

/// Options shared by the commands that read a live hierarchy.
public struct SourceOptions: ParsableArguments {
    @Option(help: "The cgroup v2 mount (or a fixture tree).")
    public var root: String = "/sys/fs/cgroup"

    @Option(help: "The proc file system (or a fixture directory).")
    public var proc: String = "/proc"

    public init() {}

    /// Fails with exit status 2 when there is no cgroup v2 memory controller.
    func check() throws -> HierarchyCheck {
        let check = HierarchyCheck.examine(root)
        if case .unavailable(let why) = check { throw CommandFailure(why, exitCode: ExitStatus.noCgroup2) }
        return check
    }

    /// cgwarden's own cgroup beneath the root, found by its pid in any cgroup
    /// namespace (OwnCgroupSearch); none in a fixture tree.
    func ownCgroup(_ check: HierarchyCheck, _ reader: ProcReader) -> CgroupPath? {
        check == .cgroup2 ? OwnCgroupSearch.locate(root: root).path : nil
    }
}

extension SourceOptions {
    /// The snapshot source over these options.
    func snapshots(podLogs: String? = nil) -> SnapshotSource { SnapshotSource(root: root, proc: proc, podLogs: podLogs) }
}

extension SnapshotSource {
    /// One snapshot; what could not be read is a warning line each.
    func take(console: Console) throws -> Snapshot {
        let taken: (snapshot: Snapshot, walk: WalkResult)
        do { taken = try take() } catch { throw CommandFailure(error.message) }
        for p in taken.walk.problems { console.error("cgwarden: warning: \(p)") }
        console.warn(taken.snapshot.pods)
        return taken.snapshot
    }
}

/// `cgwarden explain`: what the policy would do now, and why.
public struct Explain: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show the decision the policy takes on a fresh snapshot (or on a recording), and why. Never kills.",
        discussion: "With --samples, takes several snapshots --every apart, so that sustained triggers (for = ...) and growth can be evaluated; the report is of the last one.")

    @Option(help: "The configuration file (default: /etc/cgwarden/cgwarden.toml, or the built-in default when it does not exist).")
    public var config: String?

    @OptionGroup public var source: SourceOptions

    @OptionGroup public var pods: PodLogOptions

    @Option(help: "Snapshots to take.")
    public var samples: Int = 1

    @Option(help: "Time between snapshots (500ms, 1s, 2s...).")
    public var every: Duration = .seconds(1)

    @Option(parsing: .upToNextOption,
            help: "Run the policy over recordings (cgwarden record, or the daemon's flight recordings) with their own timestamps and print every decision it would have taken.")
    public var replay: [String] = []

    @Option(help: "With --replay: a second configuration; print only the kills in which it differs from --config (the policy diff).")
    public var against: String?

    @Flag(help: "List every watched group and candidate.")
    public var verbose = false

    @Flag(help: "One JSON document (Docs/explain-json.md).")
    public var json = false

    public init() {}

    public func validate() throws {
        if against != nil && replay.isEmpty { throw ValidationError("--against compares replays: give --replay FILE...") }
        if samples < 1 { throw ValidationError("--samples must be 1 or more") }
        if samples > 3600 { throw ValidationError("--samples is at most 3600 (use cgwarden record for long runs)") }
        if every < .milliseconds(10) { throw ValidationError("--every must be at least 10ms") }
    }

    public func execute(_ console: Console) throws -> Int32 {
        let cfg = try loadConfig(config, console: console)
        if let against {
            return try runDifference(replay, cfg, try loadConfig(against, console: console), console)
        }
        if !replay.isEmpty {
            var status = ExitStatus.success
            for (i, file) in replay.enumerated() {
                if i > 0 && !json { console.line() }
                status = max(status, try runReplay(file, cfg, console))
            }
            return status
        }
        let check = try source.check()
        let snapshots = source.snapshots(podLogs: pods.podLogs)
        var session = PolicySession(config: cfg, ownCgroup: source.ownCgroup(check, snapshots.proc),
                                    detail: verbose ? .all : .holding)
        var decision: Decision?
        var names = PodNames.empty
        var first: Timestamp?
        var deadline = snapshots.clock.now().monotonicNanos
        for i in 0..<samples {
            if i > 0 {
                deadline = deadline.addingSaturated(every.nanosecondsClamped)
                snapshots.clock.sleep(until: deadline)
            }
            let s = try snapshots.take(console: console)
            if first == nil { first = s.time }
            names = s.pods
            decision = session.step(s)
        }
        guard let decision else { return ExitStatus.failure }
        if json {
            console.line(JSON.object([("config", .array(cfg.files.map { .string($0) })), ("samples", .int(Int64(samples))),
                                      ("decision", decision.json(pods: names))]).serialized(pretty: true))
        } else {
            let span = Duration.nanoseconds(decision.time.monotonicNanos - (first?.monotonicNanos ?? 0))
            console.line("cgwarden explain: \(Units.isoTime(wallNanos: decision.time.wallNanos)), \(samples) snapshot\(samples == 1 ? "" : "s") over \(span.text), configuration \(cfg.files.joined(separator: " + "))")
            console.out(ExplainView(decision: decision, config: cfg, verbose: verbose, pods: names).render())
        }
        return ExitStatus.success
    }

    /// A recording, read, with a warning for a cut-short last line.
    func recording(_ file: String, _ console: Console) throws -> Recording.Contents {
        let text: String
        do { text = try TextFiles.read(file) } catch { throw CommandFailure("cannot read the recording: \(error)") }
        let rec: Recording.Contents
        do { rec = try Recording.parse(text) } catch { throw CommandFailure("\(file): \(error)") }
        if rec.truncatedTail { console.error("cgwarden: warning: \(file): the last line is cut short (the recorder was stopped while writing); skipped") }
        guard !rec.snapshots.isEmpty else { throw CommandFailure("\(file): the recording holds no snapshot") }
        return rec
    }

    /// The policy diff: both configurations over each recording, only the kills that differ.
    func runDifference(_ files: [String], _ a: Config, _ b: Config, _ console: Console) throws -> Int32 {
        var documents: [JSON] = []
        for (i, file) in files.enumerated() {
            let rec = try recording(file, console)
            let start = rec.snapshots[0].time
            let diff = Replay.difference(rec.snapshots, a, b)
            func offset(_ d: Decision) -> String { "+" + Duration.nanoseconds(d.time.monotonicNanos - start.monotonicNanos).text }
            func kill(_ d: Decision) -> String { "kill \(d.victim!.path) (id \(d.victim!.id)), guard '\(d.victim!.guardName)'" }
            if json {
                documents.append(.object([
                    ("recording", .string(file)), ("snapshots", .int(Int64(rec.snapshots.count))),
                    ("kills_a", .int(Int64(diff.killsA))), ("kills_b", .int(Int64(diff.killsB))),
                    ("only_a", .array(diff.onlyA.map(\.json))), ("only_b", .array(diff.onlyB.map(\.json))),
                    ("moved", .array(diff.moved.map { .object([("a", $0.a.json), ("b", $0.b.json)]) })),
                ]))
                continue
            }
            if i > 0 { console.line() }
            console.line("cgwarden explain --replay \(file) --against: \(rec.snapshots.count) snapshots; "
                         + "A (\(a.files.joined(separator: " + "))) kills \(diff.killsA) time\(diff.killsA == 1 ? "" : "s"), "
                         + "B (\(b.files.joined(separator: " + "))) \(diff.killsB)")
            if diff.isEmpty { console.line("no difference: both would have killed the same groups at the same times") }
            var lines: [(UInt64, String)] = []
            for d in diff.onlyA { lines.append((d.time.monotonicNanos, "\(offset(d)) only A: \(kill(d))\n  why: \(d.victim!.reason)")) }
            for d in diff.onlyB { lines.append((d.time.monotonicNanos, "\(offset(d)) only B: \(kill(d))\n  why: \(d.victim!.reason)")) }
            for m in diff.moved {
                lines.append((min(m.a.time.monotonicNanos, m.b.time.monotonicNanos),
                              "\(offset(m.a)) A, \(offset(m.b)) B: both kill \(m.a.victim!.path) (id \(m.a.victim!.id)), "
                                + "guard '\(m.a.victim!.guardName)' and guard '\(m.b.victim!.guardName)'"))
            }
            for (_, line) in lines.sorted(by: { $0.0 < $1.0 }) { console.line(line) }
        }
        if json {
            console.line(JSON.object([("config_a", .array(a.files.map { .string($0) })), ("config_b", .array(b.files.map { .string($0) })),
                                      ("recordings", .array(documents))]).serialized(pretty: true))
        }
        return ExitStatus.success
    }

    func runReplay(_ file: String, _ cfg: Config, _ console: Console) throws -> Int32 {
        let rec = try recording(file, console)
        let start = rec.snapshots[0].time
        // As the daemon would: each kill happens, the guard's delay starts.
        let actions = Replay.decisions(rec.snapshots, config: cfg)
        if json {
            console.line(JSON.object([
                ("recording", .string(file)), ("config", .array(cfg.files.map { .string($0) })),
                ("snapshots", .int(Int64(rec.snapshots.count))),
                ("decisions", .array(actions.map(\.json))),
            ]).serialized(pretty: true))
            return ExitStatus.success
        }
        let end = rec.snapshots.last!.time
        console.line("cgwarden explain --replay \(file): \(rec.snapshots.count) snapshots, \(Units.isoTime(wallNanos: start.wallNanos)) to \(Units.isoTime(wallNanos: end.wallNanos)) (\(Duration.nanoseconds(end.monotonicNanos - start.monotonicNanos).text)), configuration \(cfg.files.joined(separator: " + "))")
        if actions.isEmpty {
            console.line("no kill: no guard would have acted")
        }
        for d in actions {
            let v = d.victim!
            let offset = Duration.nanoseconds(d.time.monotonicNanos - start.monotonicNanos)
            console.line("\(Units.isoTime(wallNanos: d.time.wallNanos)) (+\(offset.text)): kill \(v.path) (id \(v.id)), guard '\(v.guardName)'")
            console.line("  why: \(v.reason)")
        }
        return ExitStatus.success
    }
}

/// `cgwarden record`: snapshots with their times, for `explain --replay`.
public struct Record: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Record snapshots (with their times) to a file, for cgwarden explain --replay (format: Docs/recording.md).")

    @Option(help: "The file to write (JSON lines).")
    public var out: String

    @Option(help: "Time between snapshots.")
    public var every: Duration = .seconds(1)

    @Option(help: "How long to record.")
    public var duration: Duration = .seconds(300)

    @OptionGroup public var source: SourceOptions

    public init() {}

    public func validate() throws {
        if every < .milliseconds(100) { throw ValidationError("--every must be at least 100ms") }
        if duration < every { throw ValidationError("--duration must be at least --every") }
    }

    public func execute(_ console: Console) throws -> Int32 {
        _ = try source.check()
        let writer: LineWriter
        do { writer = try LineWriter(path: out) } catch { throw CommandFailure("cannot write the recording: \(error)") }
        let snapshots = source.snapshots()
        do {
            try writer.write(line: Recording.header(root: source.root, intervalNanos: every.nanosecondsClamped).serialized())
            let start = snapshots.clock.now().monotonicNanos
            var next = start
            var count = 0
            let end = start.addingSaturated(duration.nanosecondsClamped)
            while next <= end {
                snapshots.clock.sleep(until: next)
                try writer.write(line: try snapshots.take(console: console).recordJSON.serialized())
                count += 1
                // Saturated: the loop ends after the snapshot at the end of time.
                if next == .max { break }
                next = next.addingSaturated(every.nanosecondsClamped)
            }
            console.error("cgwarden: recorded \(count) snapshots to \(out)")
        } catch let e as SystemError {
            throw CommandFailure("cannot write the recording: \(e)")
        }
        return ExitStatus.success
    }
}
