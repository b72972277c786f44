/// Every bound of the kill path, named, with the kernel behaviour that sets it.
public struct KillTunables: Equatable, Sendable {
    /// How long a kill waits for `populated 0` unless the request says
    /// otherwise. A SIGKILLed process frees its memory in `exit_mm` on its
    /// way out; one in uninterruptible sleep (D state: I/O, page-fault
    /// reclaim under the very pressure we act on) dies only when that call
    /// returns. Seconds, not milliseconds, on a loaded node.
    public static let defaultKillTimeoutMillis: UInt32 = 10_000

    /// Fallback rounds (freeze, SIGKILL every listed pid, thaw) before the
    /// kill is reported incomplete. Freezing stops forks, so one round
    /// normally empties the group; more are for tasks that were between
    /// `fork` and joining the list, and for a group where the freezer is
    /// missing (kernels before 5.2) and a fork loop can outrun a pid list.
    public var fallbackRounds = 16

    /// How long one round waits for `frozen 1` after writing `cgroup.freeze`.
    /// Freezing is asynchronous: each task stops at its next return to user
    /// space, and a task in the kernel (a long syscall, D state) delays it.
    /// Killing before it settles is still correct, only less sure to catch a
    /// fork in flight.
    public var freezeSettleMillis: Int32 = 500

    /// How long one round waits for `populated 0` after its signals, before
    /// listing again: long enough for SIGKILLed tasks to pass `exit_mm`.
    public var roundWaitMillis: Int32 = 200

    /// The longest single `poll` on `cgroup.events`: kernfs wakes the poll on
    /// every change of the file, but waking up now and then also bounds the
    /// cost of a missed wake-up.
    public var pollSliceMillis: Int32 = 1_000

    /// Processes whose memory is reaped right after `cgroup.kill` with
    /// process_mrelease (one pidfd each, taken before the kill): a group's
    /// memory is usually in a few big processes, and the rest exit soon
    /// enough; the bound keeps a fork bomb from costing a descriptor per pid.
    public var releaseMemoryOf = 256

    /// PSI triggers a helper arms per minute: each cgroup with a trigger
    /// gets a kernel thread (psimon) polling it while the descriptor lives,
    /// so a compromised unprivileged side must not make them fast (the
    /// launcher also bounds respawns). The daemon arms a few dozen at start
    /// and then one per new watched group.
    public var pressureArmsPerMinute = 120

    public init() {}

    public static let standard = KillTunables()
}
