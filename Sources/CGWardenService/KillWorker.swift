#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
import CGWardenCore
import CGWardenSystem
import CShims
import Synchronization

/// One kill the guard asks for: the victim first, then the next candidates
/// of the same guard in rank order, tried when one is refused (it vanished,
/// was re-created, or became protected since the snapshot).
public struct KillJob: Sendable {
    public var guardName: String
    public var targets: [CgroupTarget]
    public var timeout: Duration

    public init(guardName: String, targets: [CgroupTarget], timeout: Duration) {
        self.guardName = guardName
        self.targets = targets
        self.timeout = timeout
    }
}

/// What a job came to: every attempt, in order (refusals, then the kill or
/// the failure that ended it).
public struct KillJobResult: Sendable {
    public var job: KillJob
    public var attempts: [(target: CgroupTarget, outcome: KillOutcome)]
    /// Helpers started again during the job (one died).
    public var respawns: Int
}

/// A PSI trigger to arm on a group's memory.pressure, through the helper.
public struct ArmRequest: Hashable, Sendable {
    public var target: CgroupTarget
    public var spec: PressureTriggerSpec
    public init(target: CgroupTarget, spec: PressureTriggerSpec) {
        self.target = target
        self.spec = spec
    }
}

/// What the guard asks of the helper, one at a time.
public enum WorkerJob: Sendable {
    case kill(KillJob)
    /// A dry run of a kill: the same resolution and refusals, no write.
    case check(KillJob)
    case arm([ArmRequest])
}

public enum WorkerResult: Sendable {
    case kill(KillJobResult)
    /// Each request with its armed descriptor (now the guard's), or why not.
    case armed([(request: ArmRequest, result: Result<Int32, HelperRequestError>)])
}

/// How the guard kills: one job at a time, off its own loop, so that the
/// loop keeps sampling and answering signals (SIGTERM within a second)
/// while the helper waits for a group to empty.
public protocol Killer: AnyObject {
    /// cgwarden's own cgroup, as the helper found it.
    var own: OwnCgroup { get }
    /// Readable when a job finished (for the guard's poll).
    var wakeDescriptor: Int32 { get }
    var busy: Bool { get }
    func submit(_ job: WorkerJob)
    /// The finished job, once (drains the wake descriptor).
    func finished() -> WorkerResult?
    func shutdown()
}

/// The real kill path: the seccomp-confined helper through its client, on a
/// thread of its own.
public final class HelperKiller: Killer, @unchecked Sendable {
    /// Refused candidates tried before the job gives up: a guard's ranked
    /// list can be long, and each refusal costs a helper round trip; past
    /// this the next snapshot decides again.
    public static let maximumAttempts = 5

    let client: KillHelperClient
    public let own: OwnCgroup
    /// Worker to loop: a byte when a job finished.
    private let done: (read: Int32, write: Int32)
    /// Loop to worker: a byte when a job (or the stop) is posted; the worker blocks reading it.
    private let posted: (read: Int32, write: Int32)
    private let state = Mutex<(job: WorkerJob?, result: WorkerResult?, stop: Bool)>((nil, nil, false))
    private var thread: pthread_t?

    public init(client: KillHelperClient) throws(SystemError) {
        self.client = client
        own = client.info?.own ?? .unknown
        var fds: [Int32] = [0, 0]
        if cgw_pipe_cloexec(&fds) != 0 { throw SystemError(call: "pipe2", path: "", errno: errno) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        done = (fds[0], fds[1])
        if cgw_pipe_cloexec(&fds) != 0 { throw SystemError(call: "pipe2", path: "", errno: errno) }
        posted = (fds[0], fds[1])
        thread = try Threads.start { [self] in work() }
    }

    public var wakeDescriptor: Int32 { done.read }

    public var busy: Bool { state.withLock { $0.job != nil } }

    public func submit(_ job: WorkerJob) {
        state.withLock { s in
            precondition(s.job == nil, "one kill at a time")
            s.job = job
        }
        wakeWorker()
    }

    public func finished() -> WorkerResult? {
        var byte: UInt8 = 0
        while read(done.read, &byte, 1) == 1 {}
        return state.withLock { s in
            defer { s.result = nil }
            return s.result
        }
    }

    /// How long a stop waits for a kill in flight: the guard exits within a
    /// second of SIGTERM. A kill still running then completes in the helper
    /// (the launcher gives it time before it ends it), never half-done.
    public static let stopWait: Duration = .seconds(1)

    public func shutdown() {
        if busy {
            _ = try? Poller.wait([Poller.Interest(fd: done.read, events: Int16(POLLIN))],
                                 milliseconds: Int32(clamping: HelperKiller.stopWait.millisecondsClamped))
        }
        let running = state.withLock { s in
            s.stop = true
            return s.job != nil
        }
        wakeWorker()
        // A worker still waiting for the helper is left to the process's exit.
        guard !running else { return }
        if let thread { pthread_join(thread, nil) }
        thread = nil
        client.shutdown()
        for fd in [done.read, done.write, posted.read, posted.write] { close(fd) }
    }

    // MARK: the worker thread

    private func wakeWorker() {
        var byte: UInt8 = 1
        _ = write(posted.write, &byte, 1)
    }

    private func work() {
        while true {
            // Blocks until the loop posts something: no cost while idle.
            var byte: UInt8 = 0
            let n = withUnsafeMutableBytes(of: &byte) { (try? Files.read(posted.read, into: $0)) ?? -1 }
            let (job, stop) = state.withLock { ($0.result == nil ? $0.job : nil, $0.stop) }
            if stop || n == 0 { return }
            guard let job else { continue }
            let result: WorkerResult
            var dryRun = false
            if case .check = job { dryRun = true }
            switch job {
            case .kill(let job), .check(let job):
                let before = client.respawns
                var attempts: [(CgroupTarget, KillOutcome)] = []
                for target in job.targets.prefix(HelperKiller.maximumAttempts) {
                    let outcome = dryRun ? client.check(target) : client.kill(target, timeout: job.timeout)
                    attempts.append((target, outcome))
                    if case .refused = outcome { continue }
                    break
                }
                result = .kill(KillJobResult(job: job, attempts: attempts, respawns: client.respawns - before))
            case .arm(let requests):
                var armed: [(request: ArmRequest, result: Result<Int32, HelperRequestError>)] = []
                for r in requests {
                    do throws(HelperRequestError) {
                        armed.append((r, .success(try client.armPressure(on: r.target, r.spec))))
                    } catch {
                        armed.append((r, .failure(error)))
                    }
                }
                result = .armed(armed)
            }
            state.withLock { s in
                s.result = result
                s.job = nil
            }
            byte = 1
            _ = write(done.write, &byte, 1)
        }
    }
}
