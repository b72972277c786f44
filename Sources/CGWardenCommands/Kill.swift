import ArgumentParser
import CGWardenActions
import CGWardenCore
import CGWardenPolicy
import CGWardenSandbox
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

    @Option(help: "Run as root: the user to drop to once the helper runs (default: the configuration's, or nobody).")
    public var user: String?

    @Option(help: "Run as root: the group to drop to (default: the configuration's, or nogroup).")
    public var group: String?

    @Option(help: "How long to wait for the group to be empty (e.g. 10s, 500ms).")
    public var timeout = TimeSpan.milliseconds(UInt64(KillTunables.defaultKillTimeoutMillis))

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
        var report = KillCommandReport(cgroup: cgroup, root: root, action: dryRun ? .check : .kill)
        func finish(_ outcome: KillOutcome) -> Int32 {
            report.outcome = outcome
            return report.print(to: console, json: json)
        }
        let path: CgroupPath
        switch HelperPath.parseOperatorPath(cgroup) {
        case .success(let p): path = p
        case .failure(let problem): return finish(.refused(.invalidPath(problem)))
        }
        report.path = path

        var protected = protect.map { CgroupPattern($0) }
        var user = self.user ?? "nobody", group = self.group ?? "nogroup"
        if let config {
            let c = try loadConfig(config, console: console)
            protected += c.protect
            user = self.user ?? c.daemon.user
            group = self.group ?? c.daemon.group
        }

        // Root: the helper keeps the privileges, this process drops them.
        let dropTo: (uid: UInt32, gid: UInt32)?
        if geteuid() == 0 {
            guard let uid = Privileges.userID(user) else { throw CommandFailure("no user \(user) to drop privileges to (--user)") }
            guard let gid = Privileges.groupID(group) else { throw CommandFailure("no group \(group) to drop privileges to (--group)") }
            if uid == 0 || gid == 0 { throw CommandFailure("--user and --group must not be root: this side of cgwarden runs unprivileged") }
            dropTo = (uid, gid)
        } else {
            dropTo = nil
        }

        var configuration = KillHelperClient.Configuration()
        configuration.settings = KillHelperProcess.Settings(root: root, protected: protected)
        configuration.useLauncher = dropTo != nil
        let client: KillHelperClient
        do {
            client = try KillHelperClient(configuration)
        } catch {
            return finish(error.outcome)
        }
        defer { client.shutdown() }
        report.helper = client.info

        if let dropTo {
            do {
                try Privileges.drop(toUser: dropTo.uid, group: dropTo.gid)
            } catch {
                throw CommandFailure("cannot drop privileges to \(user):\(group): \(error)")
            }
        }
        report.credentials = try? Credentials.current()

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
        return finish(client.kill(target, timeout: .nanoseconds(Int64(timeout.nanoseconds)), forceFallback: fallback))
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

/// What `cgwarden kill` prints: one line (or a JSON document) per outcome.
struct KillCommandReport {
    enum Action: String { case kill, check }

    var cgroup: String
    var root: String
    var action: Action
    var path: CgroupPath?
    var id: UInt64?
    var outcome: KillOutcome?
    var helper: HelperInfo?
    var credentials: Credentials?
    /// Dry run: the owner and preference xattrs the policy would see.
    var attributes: CgroupAttributes?

    /// Prints the outcome and returns the exit status.
    func print(to console: Console, json: Bool) -> Int32 {
        guard let outcome else { return ExitStatus.failure }
        let name = path?.description ?? cgroup
        let what = action == .kill ? "kill" : "kill (dry run)"
        var status = ExitStatus.success
        var errorLine: String?
        var line: String?
        switch outcome {
        case .killed(let r):
            line = "killed \(name)\(idText): empty after \(KillCommandReport.duration(r.durationNanos)) via \(method(r))\(memory(r))"
        case .incomplete(let r):
            errorLine = "\(what) \(name) incomplete: still populated after \(KillCommandReport.duration(r.durationNanos)) via \(method(r)) (\(r.remaining) process\(r.remaining == 1 ? "" : "es") left)"
            status = ExitStatus.failure
        case .wouldKill(let c):
            line = "dry run: would kill \(name)\(idText): \(c.processes) process\(c.processes == 1 ? "" : "es") in \(c.groups) group\(c.groups == 1 ? "" : "s")"
                + (c.memoryCurrent.map { ", memory.current \(Units.size($0))" } ?? "") + "; every check passed"
            if let a = attributes {
                let xattrs = CgroupAttributes.names.compactMap { n in a.values[n].map { "\(n)=\(KillCommandReport.shown($0))" } }
                line! += "\n  owner uid \(a.ownerUID)" + (xattrs.isEmpty ? "" : "; " + xattrs.joined(separator: " "))
            }
        case .refused(let r):
            errorLine = "refused to \(what) \(name): \(r)"
            status = ExitStatus.refused
        case .failed(let f):
            errorLine = "\(what) \(name) failed: \(f.describe(KillCommandReport.errnoText))"
            status = ExitStatus.failure
        }
        if json {
            console.line(document.serialized())
        } else if let line {
            console.line(line)
        }
        if let errorLine { console.error("cgwarden: \(errorLine)") }
        return status
    }

    private var idText: String { id.map { " (id \($0))" } ?? "" }

    private func method(_ r: KillReport) -> String {
        guard r.method == .freezeAndSignal else { return "cgroup.kill" }
        let reason = r.fallbackReason.map { " (\($0))" } ?? ""
        return "freeze+SIGKILL\(reason), \(r.rounds) round\(r.rounds == 1 ? "" : "s"), \(r.signalled) signal\(r.signalled == 1 ? "" : "s") sent"
    }

    private func memory(_ r: KillReport) -> String {
        guard let b = r.memoryBefore else { return "" }
        return "; memory.current \(Units.size(b)) -> \(r.memoryAfter.map(Units.size) ?? "?")"
    }

    static func duration(_ nanos: UInt64) -> String {
        let ms = Double(nanos) / 1e6
        return ms < 1000 ? Units.decimal(ms, decimals: 1) + " ms" : Units.decimal(ms / 1000, decimals: 2) + " s"
    }

    static func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// An xattr value for a terminal: control characters as `?`, at most 32 characters.
    static func shown(_ v: String) -> String {
        let clean = String(v.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
        return clean.count > 32 ? String(clean.prefix(32)) + "…" : clean
    }

    /// The document of `cgwarden kill --json` (Docs/kill-json.md).
    var document: JSON {
        var kill = JSON.null, check = JSON.null, refusal = JSON.null, failure = JSON.null
        let name: String
        switch outcome {
        case .killed(let r)?: name = "killed"; kill = KillCommandReport.json(r)
        case .incomplete(let r)?: name = "incomplete"; kill = KillCommandReport.json(r)
        case .wouldKill(let c)?:
            name = "would_kill"
            check = .object([("processes", .uint(UInt64(c.processes))), ("groups", .uint(UInt64(c.groups))),
                             ("memory_current", .number(c.memoryCurrent)),
                             ("owner_uid", attributes.map { .uint(UInt64($0.ownerUID)) } ?? .null),
                             ("xattrs", attributes.map { a in
                                 .object(CgroupAttributes.names.compactMap { n in a.values[n].map { (n, JSON.string($0)) } })
                             } ?? .null)])
        case .refused(let r)?:
            name = "refused"
            refusal = .object([("reason", .string(KillCommandReport.code(r))), ("message", .string(r.description))])
        case .failed(let f)?:
            name = "failed"
            var errno = JSON.null
            if case .system(_, let e) = f { errno = .int(Int64(e)) }
            failure = .object([("message", .string(f.describe(KillCommandReport.errnoText))), ("errno", errno)])
        case nil: name = "failed"
        }
        let helperJSON = helper.map { h in
            JSON.object([("pid", .int(Int64(h.pid))), ("seccomp", .bool(h.seccomp)),
                         ("root_is_cgroup2", .bool(h.rootIsCgroup2)), ("own_cgroup", .string(h.ownCgroup?.description))])
        } ?? .null
        let credentialsJSON = credentials.map { c in
            JSON.object([("uid", .uint(UInt64(c.uid))), ("gid", .uint(UInt64(c.gid))),
                         ("groups", .array(c.groups.map { .uint(UInt64($0)) })),
                         ("cap_eff", .string(Privileges.hexMask(c.capEff))), ("no_new_privs", .bool(c.noNewPrivs))])
        } ?? .null
        return .object([
            ("cgroup", .string(path?.description ?? cgroup)), ("id", .number(id)), ("root", .string(root)),
            ("action", .string(action.rawValue)), ("outcome", .string(name)),
            ("kill", kill), ("check", check), ("refusal", refusal), ("failure", failure),
            ("helper", helperJSON), ("unprivileged", credentialsJSON),
        ])
    }

    static func json(_ r: KillReport) -> JSON {
        .object([
            ("method", .string(r.method == .cgroupKill ? "cgroup.kill" : "freeze+sigkill")),
            ("fallback_reason", .string(r.fallbackReason.map { r in
                switch r {
                case .forced: return "forced"
                case .noCgroupKill: return "no_cgroup_kill"
                case .notSupported: return "not_supported"
                }
            })),
            ("rounds", .uint(UInt64(r.rounds))), ("signalled", .uint(UInt64(r.signalled))),
            ("remaining", .uint(UInt64(r.remaining))), ("duration_ns", .uint(r.durationNanos)),
            ("memory_before", .number(r.memoryBefore)), ("memory_after", .number(r.memoryAfter)),
        ])
    }

    /// Stable names of the refusals, for scripts.
    static func code(_ r: HelperRefusal) -> String {
        switch r {
        case .invalidPath: return "invalid_path"
        case .root: return "root"
        case .ownCgroup: return "own_cgroup"
        case .ancestorOfOwn: return "ancestor_of_own"
        case .protected: return "protected"
        case .symlink: return "symlink"
        case .crossesMount: return "crosses_mount"
        case .notFound: return "not_found"
        case .notADirectory: return "not_a_directory"
        case .staleID: return "stale_id"
        case .notCgroup2: return "not_cgroup2"
        }
    }
}
