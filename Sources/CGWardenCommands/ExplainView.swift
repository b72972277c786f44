import CGWardenCore
import CGWardenPolicy

/// The human report of a decision (`cgwarden explain`).
public struct ExplainView {
    public var decision: Decision
    public var config: Config
    /// Show every watched group, not only those where something holds.
    public var verbose = false
    /// Names for the pods among the groups (the snapshot's table).
    public var pods: PodNames

    public init(decision: Decision, config: Config, verbose: Bool = false, pods: PodNames = .empty) {
        self.decision = decision
        self.config = config
        self.verbose = verbose
        self.pods = pods
    }

    /// `  pod namespace/name` after a group in a pod whose name is known.
    func pod(_ path: CgroupPath) -> String {
        pods.podLabels(for: path)?.qualifiedName.map { "  pod \($0)" } ?? ""
    }

    /// Candidates listed per guard before "… N more".
    static let candidatesShown = 10

    public func render() -> String {
        var out: [String] = []
        if let v = decision.victim {
            out.append("decision: kill \(v.path) (id \(v.id)), guard '\(v.guardName)'\(pod(v.path))")
            out.append("  why: \(v.reason)")
        } else {
            out.append("decision: no kill (\(decision.noVictimReason ?? "no reason given"))")
        }
        for v in decision.observed {
            out.append("observed: guard '\(v.guardName)' would kill \(v.path) (id \(v.id)) (observe mode: nothing is killed)\(pod(v.path))")
            out.append("  why: \(v.reason)")
        }
        for (gd, g) in zip(decision.guards, config.guards) {
            out.append("")
            var state = gd.fired ? "FIRED" : "not fired"
            if let until = gd.waitingUntil {
                let left = Duration.nanoseconds(until.monotonicNanos &- decision.time.monotonicNanos)
                state += ", waiting \(left.text) after killing \(gd.lastVictim?.description ?? "?")"
            }
            out.append("guard '\(g.name)'\(g.mode == .observe ? " [observe]" : "") (\(g.origin.file):\(g.origin.line)), watches \(g.match.map(\.text).joined(separator: ", ")): \(state)")
            let interesting = gd.watched.filter { w in verbose || w.fired || w.triggers.contains { $0.holding } }
            if gd.watched.isEmpty && gd.quiet == 0 { out.append("  no group matches") }
            for w in interesting {
                out.append("  \(w.path)\(w.fired ? "  [fired]" : "")")
                for t in w.triggers {
                    let mark = t.fired ? "✓" : t.holding ? "…" : "·"
                    var line = "    \(mark) \(gd.triggers[t.index]): \(t.measured)"
                    if t.holding { line += t.fired ? ", held \(t.heldFor.text)" : ", holding for \(t.heldFor.text)" }
                    out.append(line)
                }
            }
            let quiet = gd.quiet + gd.watched.count - interesting.count
            if quiet > 0 {
                out.append("  \(quiet) more watched group\(quiet == 1 ? "" : "s"): no trigger holds\(verbose ? "" : " (--verbose lists them)")")
            }
            guard gd.fired else { continue }
            out.append("  candidates (\(g.candidates.rawValue), ranked by \(g.rank.rawValue)\(g.qosOrder ? ", QoS order" : "")):")
            let eligible = gd.candidates.filter { $0.excluded == nil }
            for c in eligible.prefix(verbose ? .max : ExplainView.candidatesShown) {
                var line = "    \(c.rank ?? 0). \(c.path)  \(c.scoreText)\(pod(c.path))"
                if c.preference != .normal { line += "  [\(c.preference.rawValue): \(c.preferenceReason ?? "")]" }
                out.append(line)
            }
            if !verbose && eligible.count > ExplainView.candidatesShown {
                out.append("    … \(eligible.count - ExplainView.candidatesShown) more")
            }
            let excluded = gd.candidates.filter { $0.excluded != nil }
            for c in excluded.prefix(verbose ? .max : ExplainView.candidatesShown) {
                out.append("    -  \(c.path)  excluded: \(c.excluded!)\(pod(c.path))")
            }
            if !verbose && excluded.count > ExplainView.candidatesShown {
                var counts: [String: Int] = [:]
                for c in excluded.dropFirst(ExplainView.candidatesShown) { counts[c.excluded!, default: 0] += 1 }
                let why = counts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
                out.append("    … \(excluded.count - ExplainView.candidatesShown) more excluded: \(why)")
            }
            if eligible.isEmpty && gd.candidates.isEmpty { out.append("    none") }
        }
        return out.joined(separator: "\n") + "\n"
    }
}
