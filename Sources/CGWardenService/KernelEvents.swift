import CGWardenCore
import CGWardenPolicy
import CGWardenSystem

/// The kernel's events inside groups, for the daemon: the `OOMWatcher` fed
/// with every snapshot, with the counters of groups read when they empty,
/// and with the kills /dev/kmsg reports.
final class KernelEvents {
    /// Records read per wake: the log of a node in trouble can be long, and
    /// the loop must get back to its snapshot; the rest is read at the next
    /// wake (the descriptor stays readable).
    static let recordsPerWake = 512

    private(set) var watcher: OOMWatcher
    let log: KernelLog?
    private var assembler = KernelOOMAssembler()
    private var reportedLost: UInt64 = 0
    private var logFailed = false

    init(log: KernelLog?, tunables: OOMWatcher.Tunables) {
        self.log = log
        watcher = OOMWatcher(tunables: tunables)
    }

    func observe(_ snapshot: Snapshot) -> [GuardEvent] { watcher.observe(snapshot) }

    /// Counters read between snapshots (groups that just emptied).
    func observe(_ readings: [OOMWatcher.Reading], at time: Timestamp) -> [GuardEvent] {
        readings.isEmpty ? [] : watcher.observe(readings, at: time)
    }

    /// Reads what the kernel log holds: its kills joined (or held), and
    /// problems: records overwritten before they were read, lines that did
    /// not parse, a failed read.
    func readLog(at time: Timestamp) -> [GuardEvent] {
        guard let log, !logFailed else { return [] }
        var reports: [KernelOOMReport] = []
        let outcome = log.read(limit: KernelEvents.recordsPerWake) { bytes in
            guard let record = try? Parse.kernelLogRecord(bytes) else { return }
            reports += assembler.add(record, readNanos: time.monotonicNanos)
        }
        var out: [GuardEvent] = []
        for r in reports { out += watcher.kernelReport(r, at: time) }
        let lost = assembler.lost
        if outcome.overwritten > 0 || lost > reportedLost {
            let count = lost > reportedLost ? "\(lost - reportedLost)" : "some"
            out.append(GuardEvent(kind: .problem, time: time, reason: "\(count) kernel log record(s) were overwritten before "
                                  + "they were read (\(log.path)): OOM reports among them are lost; their kills are still counted"))
            reportedLost = lost
        }
        for e in assembler.takeMalformed() {
            out.append(GuardEvent(kind: .problem, time: time, reason: "an OOM report of the kernel log did not parse: \(e)"))
        }
        if let e = outcome.error {
            // Not read again: a descriptor that fails would wake the loop at every poll.
            logFailed = true
            out.append(GuardEvent(kind: .problem, time: time, reason: "the kernel log is no longer read: \(e)"))
        }
        return out
    }

    /// The log's descriptor, while it is read.
    var descriptor: Int32? { logFailed ? nil : log?.fd }

    /// What waited too long: summaries without their kill line, rises
    /// without a report, reports without a rise.
    func expire(at time: Timestamp) -> [GuardEvent] {
        var out: [GuardEvent] = []
        for r in assembler.expire(nowNanos: time.monotonicNanos) { out += watcher.kernelReport(r, at: time) }
        return out + watcher.expire(at: time)
    }

    /// When `expire` next has something (monotonic ns).
    var nextDeadline: UInt64? {
        [watcher.nextDeadline, assembler.nextExpiryNanos].compactMap { $0 }.min()
    }
}
