import CGWardenCore
import CGWardenSandbox
#if canImport(Glibc)
import Glibc
#endif

/// What `cgwarden kill` prints: one line (or a JSON document) per outcome.
struct KillView {
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
        let name = path?.description ?? PathText.escape(cgroup)
        let what = action == .kill ? "kill" : "kill (dry run)"
        var status = ExitStatus.success
        var errorLine: String?
        var line: String?
        switch outcome {
        case .killed(let r):
            line = "killed \(name)\(idText): empty after \(KillView.duration(r.durationNanos)) via \(method(r))\(memory(r))"
        case .incomplete(let r):
            errorLine = "\(what) \(name) incomplete: still populated after \(KillView.duration(r.durationNanos)) via \(method(r)) (\(r.remaining) process\(r.remaining == 1 ? "" : "es") left)"
            status = ExitStatus.failure
        case .wouldKill(let c):
            line = "dry run: would kill \(name)\(idText): \(c.processes) process\(c.processes == 1 ? "" : "es") in \(c.groups) group\(c.groups == 1 ? "" : "s")"
                + (c.memoryCurrent.map { ", memory.current \(Units.size($0))" } ?? "") + "; every check passed"
            if let a = attributes {
                let xattrs = CgroupAttributes.names.compactMap { n in a.values[n].map { "\(n)=\(KillView.shown($0))" } }
                line! += "\n  owner uid \(a.ownerUID)" + (xattrs.isEmpty ? "" : "; " + xattrs.joined(separator: " "))
            }
        case .refused(let r):
            errorLine = "refused to \(what) \(name): \(r)"
            status = ExitStatus.refused
        case .failed(let f):
            errorLine = "\(what) \(name) failed: \(f.describe(KillView.errnoText))"
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

    /// An xattr value for a terminal: escaped as names are, at most 32 bytes of it.
    static func shown(_ v: String) -> String {
        let bytes = Array(v.utf8)
        return PathText.escape(bytes.prefix(32)) + (bytes.count > 32 ? "…" : "")
    }

    /// The document of `cgwarden kill --json` (Docs/kill-json.md).
    var document: JSON {
        var kill = JSON.null, check = JSON.null, refusal = JSON.null, failure = JSON.null
        switch outcome {
        case .killed(let r)?, .incomplete(let r)?: kill = r.json
        case .wouldKill(let c)?:
            check = .object([("processes", .uint(UInt64(c.processes))), ("groups", .uint(UInt64(c.groups))),
                             ("memory_current", .number(c.memoryCurrent)),
                             ("owner_uid", attributes.map { .uint(UInt64($0.ownerUID)) } ?? .null),
                             ("xattrs", attributes.map { a in
                                 .object(CgroupAttributes.names.compactMap { n in a.values[n].map { (n, JSON.string($0)) } })
                             } ?? .null)])
        case .refused(let r)?: refusal = r.json
        case .failed(let f)?: failure = f.json(KillView.errnoText)
        case nil: break
        }
        let credentialsJSON = credentials.map { c in
            JSON.object([("uid", .uint(UInt64(c.uid))), ("gid", .uint(UInt64(c.gid))),
                         ("groups", .array(c.groups.map { .uint(UInt64($0)) })),
                         ("cap_eff", .string(Privileges.hexMask(c.capEff))), ("no_new_privs", .bool(c.noNewPrivs))])
        } ?? .null
        return .object([
            ("cgroup", .string(path?.description ?? PathText.escape(cgroup))), ("id", .number(id)), ("root", .string(root)),
            ("action", .string(action.rawValue)), ("outcome", .string(outcome?.name ?? "failed")),
            ("kill", kill), ("check", check), ("refusal", refusal), ("failure", failure),
            ("helper", helper?.json ?? .null), ("unprivileged", credentialsJSON),
        ])
    }
}
