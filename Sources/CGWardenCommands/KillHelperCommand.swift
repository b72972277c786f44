import ArgumentParser
import CGWardenActions
import CGWardenCore

/// `cgwarden kill-helper`: the privileged kill helper (or, with --launcher,
/// the process that spawns helpers). Started by cgwarden itself with its
/// channel on fd 3; not for operators, so not listed in the help.
public struct KillHelperCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kill-helper",
        abstract: "The privileged kill helper (started by cgwarden itself, channel on fd 3).",
        shouldDisplay: false)

    @Option(help: "The cgroup v2 mount.")
    public var root: String = "/sys/fs/cgroup"

    @Option(name: .customLong("protect"), help: "A protected cgroup pattern (repeatable).")
    public var protect: [String] = []

    @Flag(help: "Run the launcher that spawns helpers on request.")
    public var launcher = false

    public init() {}

    public func validate() throws {
        for p in protect {
            if case .failure(let why) = CgroupPattern.parse(p) { throw ValidationError("--protect \(p): \(why)") }
        }
    }

    public func run() throws {
        let settings = KillHelperProcess.Settings(root: root, protected: protect.map { CgroupPattern($0) })
        if launcher { KillHelperProcess.runLauncher(settings) }
        KillHelperProcess.runHelper(settings)
    }
}
