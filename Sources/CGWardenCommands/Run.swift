import ArgumentParser
import CGWardenCore
import CGWardenPolicy
import CGWardenService

/// `cgwarden run`: the guard itself.
public struct Run: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Guard the node: watch the cgroups, and kill the group a guard chooses, through the confined helper.",
        discussion: """
            Started as root: spawns the kill helper, sets its own oom_score_adj to -1000, locks its \
            memory, arms the node's PSI triggers, then drops to the configuration's user and guards. \
            Woken by the kernel (PSI triggers, changes of memory.events and cgroup.events) and by a \
            timer that runs faster as usage nears a threshold. SIGHUP reloads the configuration (a \
            broken one is reported and the old one kept); SIGTERM and SIGINT stop it. Events go to \
            the journal (CGWARDEN_* fields), or to standard error without one, and to the event store \
            under --state-dir ('cgwarden events' reads it); the kernel's own OOM kills are events too \
            (memory.events.local, /dev/kmsg), and each kill writes a flight recording under \
            --state-dir (explain --replay reads it). Under systemd it \
            reports READY=1, STATUS= and WATCHDOG=1 (Type=notify).
            """)

    @Option(help: "The configuration file (default: /etc/cgwarden/cgwarden.toml, or the built-in default when it does not exist).")
    public var config: String?

    @OptionGroup public var source: SourceOptions

    @OptionGroup public var pods: PodLogOptions

    @Flag(name: .customLong("dry-run"), help: "Every guard observes: report what would be killed, kill nothing.")
    public var dryRun = false

    @Option(help: "Where events go: journal (or standard error without one), or json (one JSON line each on standard error).")
    public var log: LogFormat = .journal

    @OptionGroup public var state: StateOptions

    @Flag(name: .customLong("no-store"), help: "Record no event history (the journal still gets every event; flight recordings are still written).")
    public var noStore = false

    @Flag(name: .customLong("poll-only"), help: .hidden)
    public var pollOnly = false

    @Flag(name: .customLong("keep-startup-pages"), help: .hidden)
    public var keepStartupPages = false

    public enum LogFormat: String, ExpressibleByArgument, Sendable { case journal, json }

    public init() {}

    public func execute(_ console: Console) throws -> Int32 {
        let cfg = try loadConfig(config, console: console)
        _ = try source.check()
        let path = config
        let reload: () throws -> Config = {
            let quiet = CapturedConsole()
            do {
                return try loadConfig(path, console: quiet.console)
            } catch {
                // Every error of the file, not only the count.
                throw CommandFailure((quiet.stderr.split(separator: "\n").map(String.init) + ["\(error)"]).joined(separator: "; "))
            }
        }
        var options = Daemon.Options(root: source.root, proc: source.proc, dryRun: dryRun, stateDirectory: state.stateDirectory)
        options.eventStore = !noStore
        // Benchmarks: the same daemon without the kernel's wake-ups, woken by its timer only.
        options.kernelWakeups = !pollOnly
        // Benchmarks: the pages of the start kept resident (and locked), as before.
        options.dropStartupPages = !keepStartupPages
        options.podLogs = pods.podLogs
        let sink: EventSink = log == .json ? JSONLineSink() : JournalSink()
        return Daemon.run(config: cfg, options: options,
                          reload: reload, sink: sink, notifier: SystemdNotifier(),
                          log: { console.error("cgwarden: " + $0) })
    }
}
