import ArgumentParser
import CGWardenCore

/// `--pod-logs DIR`: where the kubelet keeps its pods' logs, for their names
/// (Docs/pods.md). Shared by the commands that show pods.
public struct PodLogOptions: ParsableArguments {
    @Option(name: .customLong("pod-logs"),
            help: "The kubelet's pod log directory, whose entries NAMESPACE_NAME_UID name the pods (a missing directory: pods are shown by UID).")
    public var podLogs: String = "/var/log/pods"

    public init() {}
}

extension Console {
    /// The pod table's warnings (unreadable, cut short, entries ignored), one line each.
    func warn(_ pods: PodNames) {
        for w in pods.warnings { error("cgwarden: warning: \(w)") }
    }
}
