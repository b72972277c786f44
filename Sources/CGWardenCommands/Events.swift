import ArgumentParser
import CGWardenCore
import CGWardenService
import CGWardenStore
import CGWardenSystem

/// `--state-dir`, shared by `run`, `events` and `status`.
public struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: "Where the event store (events/events.db) and the flight recordings (recordings/) are.")
    public var stateDirectory: String = Daemon.defaultStateDirectory

    public init() {}
}

/// `cgwarden events`: the event history the daemon records.
public struct Events: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show the event history: cgwarden's kills, refusals and observations, and the kernel's OOM events.",
        discussion: """
            The daemon (cgwarden run) records every event in its store (events/events.db under the state \
            directory, SQLite in WAL mode); this reads it while the daemon writes. Docs/events.md.
            """,
        subcommands: [EventsList.self, EventsShow.self],
        defaultSubcommand: EventsList.self)

    public init() {}
}


public struct EventsList: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List events, newest last (the default of 'cgwarden events').")

    @Option(help: "From this time: a duration back from now (2h, 30m, 7d), or a local date and time (2026-12-01T10:00; a trailing Z for UTC).")
    public var since: String?

    @Option(help: "Up to this time (the same forms as --since).")
    public var until: String?

    @Option(help: "Only groups matching this pattern (as in the configuration: /tenants.slice/*, /kubepods.slice/**).")
    public var cgroup: String?

    @Option(parsing: .singleValue,
            help: "Only these kinds (repeat, or separate with commas): \(GuardEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    public var kind: [String] = []

    @Flag(help: "Keep printing events as the daemon commits them (until interrupted).")
    public var follow = false

    @Flag(help: "One JSON object per line (Docs/events.md).")
    public var json = false

    @OptionGroup public var state: StateOptions

    /// Tests: stop following after this many seconds.
    @Option(name: .customLong("follow-for"), help: .hidden)
    public var followFor: Double?

    public init() {}

    public func validate() throws {
        _ = try kinds()
        if let cgroup, case .failure(let why) = CgroupPattern.parse(cgroup) {
            throw ValidationError("--cgroup '\(PathText.escape(Array(cgroup.utf8)[...]))' can never match: \(why)")
        }
        let now = SystemClock().now().wallNanos
        for (flag, value) in [("--since", since), ("--until", until)] {
            if let value, TimeSpec.parse(value, now: now) == nil {
                throw ValidationError("\(flag) '\(value)' is neither a duration (2h, 30m, 7d) nor a time (2026-12-01T10:00)")
            }
        }
    }

    func kinds() throws -> [GuardEvent.Kind] {
        try kind.flatMap { $0.split(separator: ",") }.map { name in
            guard let k = GuardEvent.Kind(rawValue: String(name)) else {
                throw ValidationError("--kind '\(name)' is not one of: \(GuardEvent.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return k
        }
    }

    public func execute(_ console: Console) throws -> Int32 {
        let clock = SystemClock()
        let now = clock.now().wallNanos
        var filter = EventHistory.Filter(kinds: try kinds())
        filter.since = since.flatMap { TimeSpec.parse($0, now: now) }
        filter.until = until.flatMap { TimeSpec.parse($0, now: now) }
        if let cgroup, case .success(let p) = CgroupPattern.parse(cgroup) { filter.cgroup = p }
        let history: EventHistory
        do {
            history = try EventHistory(directory: StateDirectory.storeDirectoryToRead(state.stateDirectory))
        } catch {
            throw CommandFailure("\(error)")
        }
        let found: [StoredEvent]
        do { found = try history.events(filter) } catch { throw CommandFailure("\(error)") }
        if json {
            for e in found { console.line(EventsView.jsonLine(e)) }
        } else {
            console.line(EventsView.header)
            for e in found { console.line(EventsView.row(e)) }
        }
        guard follow else { return ExitStatus.success }
        let stopAt = followFor.map { clock.now().monotonicNanos.addingSaturated(UInt64(max(0, $0) * 1e9)) }
        do {
            try history.follow(filter, after: found.last?.id ?? 0) { batch in
                for e in batch { console.line(json ? EventsView.jsonLine(e) : EventsView.row(e)) }
                return stopAt.map { clock.now().monotonicNanos < $0 } ?? true
            }
        } catch {
            throw CommandFailure("\(error)")
        }
        return ExitStatus.success
    }
}

public struct EventsShow: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one event whole: every field, its candidates, the path to its flight recording.")

    @Argument(help: "The event's id (the first column of 'cgwarden events --json': event_id).")
    public var id: Int64

    @Flag(help: "The event as one JSON object.")
    public var json = false

    @OptionGroup public var state: StateOptions

    public init() {}

    public func execute(_ console: Console) throws -> Int32 {
        let history: EventHistory
        do {
            history = try EventHistory(directory: StateDirectory.storeDirectoryToRead(state.stateDirectory))
        } catch {
            throw CommandFailure("\(error)")
        }
        let found: StoredEvent?
        do { found = try history.event(id: id) } catch { throw CommandFailure("\(error)") }
        guard let found else { throw CommandFailure("no event \(id) in \(history.store.path) (pruned, or never recorded)") }
        console.out(json ? EventsView.jsonLine(found) + "\n" : EventsView.show(found))
        return ExitStatus.success
    }
}
