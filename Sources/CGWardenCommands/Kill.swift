import ArgumentParser
import CGWardenActions
import CGWardenCore
import CGWardenPolicy
import CGWardenSandbox
import CGWardenService
#if canImport(Glibc)
import Glibc
#endif

/// `cgwarden kill`: an operator's kill of one cgroup (and everything below
/// it), through the same confined helper and the same refusals as the daemon.
public struct Kill: ConsoleCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Kill every process of a cgroup and its subtree, through the confined helper.",
        discussion: """
            The kill is done by a helper process confined by seccomp, which writes 1 to cgroup.kill \
            (or, without it, freezes the group and SIGKILLs each pid) and waits for populated 0. \
            It refuses the root cgroup, cgwarden's own cgroup and its ancestors, protected groups \
            (and groups above them), paths through symlinks or other mounts, and a group replaced \
            since its id was taken. Run as root, this process drops to --user/--group (no \
            capabilities) once the helper is started. Exit status: 0 killed (or checked), \
            1 failed or incomplete, 3 refused, 64 bad arguments.
            """)

    @Argument(help: "The cgroup, as a path below the root (e.g. /tenants.slice/a.slice).")
    public var cgroup: String

    @Option(help: "The cgroup v2 mount.")
    public var root: String = "/sys/fs/cgroup"

    @Flag(name: .customLong("dry-run"), help: "Check everything, kill nothing: what would be killed.")
    public var dryRun = false

    @Flag(help: "One JSON document (Docs/kill-json.md).")
    public var json = false

    @Option(name: .customLong("protect"), help: "Never kill groups matching this pattern, nor groups above them (repeatable; *, ?, **).")
    public var protect: [String] = []

    @Option(help: "Also protect what this configuration protects, and take its [daemon] user and group (the daemon's refusals, exactly).")
    public var config: String?

    @Option(help: "Run as root: the user to drop to once the helper runs (default: the configuration's, or cgwarden).")
    public var user: String?

    @Option(help: "Run as root: the group to drop to (default: the configuration's, or cgwarden).")
    public var group: String?

    @Flag(name: .customLong("allow-shared-user"),
          help: "Allow dropping to nobody/nogroup, which other services share (they could signal or trace this process).")
    public var allowSharedUser = false

    @Option(help: "How long to wait for the group to be empty (e.g. 10s, 500ms).")
    public var timeout: Duration = .milliseconds(Int64(KillTunables.defaultKillTimeoutMillis))

    @Flag(help: "Use the fallback (freeze, SIGKILL each pid, thaw) even where cgroup.kill exists.")
    public var fallback = false

    public init() {}

    public func validate() throws {
        for p in protect {
            if case .failure(let why) = CgroupPattern.parse(p) { throw ValidationError("--protect \(p): \(why)") }
        }
        if timeout < .milliseconds(1) || timeout > .milliseconds(UInt64(HelperWire.maxTimeoutMillis)) {
            throw ValidationError("--timeout must be between 1ms and \(HelperWire.maxTimeoutMillis / 1000)s")
        }
        if dryRun && fallback { throw ValidationError("--fallback has no meaning with --dry-run") }
    }

    public func execute(_ console: Console) throws -> Int32 {
        var report = KillView(cgroup: cgroup, root: root, action: dryRun ? .check : .kill)
        func finish(_ outcome: KillOutcome) -> Int32 {
            report.outcome = outcome
            return report.print(to: console, json: json)
        }
        let path: CgroupPath
        switch CgroupPath.parse(cgroup) {
        case .success(let p): path = p
        case .failure(let problem): return finish(.refused(.invalidPath(problem)))
        }
        report.path = path

        var protected = protect.map { CgroupPattern($0) }
        var daemon = DaemonSettings()
        if let config {
            let c = try loadConfig(config, console: console)
            protected += c.protect
            daemon = c.daemon
        }
        // Root: the helper keeps the privileges, this process drops them.
        var configuration = KillHelperClient.Configuration()
        configuration.settings = KillHelperProcess.Settings(root: root, protected: protected)
        let drop = PrivilegedStart.Drop(user: user ?? daemon.user, group: group ?? daemon.group,
                                        allowShared: allowSharedUser || daemon.allowSharedUser)
        let client: KillHelperClient
        do {
            (client, report.credentials) = try PrivilegedStart.start(configuration, drop: drop)
        } catch {
            if case .helper(let e) = error { return finish(e.outcome) }
            throw CommandFailure(error.description)
        }
        defer { client.shutdown() }
        report.helper = client.info

        let target: CgroupTarget
        switch CgroupResolution.target(path, root: root) {
        case .success(let t): target = t
        case .failure(let e): return finish(e.outcome)
        }
        report.id = target.id
        if dryRun {
            let outcome = client.check(target)
            if case .wouldKill = outcome { report.attributes = try? client.attributes(of: target) }
            return finish(outcome)
        }
        return finish(client.kill(target, timeout: timeout, forceFallback: fallback))
    }
}

extension HelperRequestError {
    var outcome: KillOutcome {
        switch self {
        case .refused(let r): return .refused(r)
        case .failed(let f): return .failed(f)
        }
    }
}
