#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenPolicy
import CGWardenSystem

/// Runs the configuration's hooks after events: each a command, as the
/// daemon's unprivileged user, with the event as one JSON document on its
/// standard input. Never delays the guard: a hook is spawned and left to
/// run; its end is noticed through its pidfd in the guard's poll, and one
/// past its timeout is killed. At most `maximumRunning` run at once.
/// Failures (a spawn refused, a non-zero status, a signal, a timeout, a hook
/// skipped for the limit) come back as `hook_failed` events, which run no hook.
public final class HookRunner: EventSink {
    struct Running {
        var hook: Hook
        var pid: pid_t
        var pidfd: Int32
        var deadline: UInt64
        var event: GuardEvent.Kind
    }

    public private(set) var hooks: [Hook]
    public private(set) var maximumRunning: Int
    let clock: Clock
    /// Where the runner's own failures go (the daemon's other sinks).
    let failures: (GuardEvent) -> Void
    private(set) var running: [Running] = []

    public init(hooks: [Hook], maximumRunning: Int, clock: Clock, failures: @escaping (GuardEvent) -> Void) {
        self.hooks = hooks
        self.maximumRunning = maximumRunning
        self.clock = clock
        self.failures = failures
    }

    /// A reload: running hooks finish; new events use the new list.
    public func configure(_ hooks: [Hook], maximumRunning: Int) {
        self.hooks = hooks
        self.maximumRunning = maximumRunning
    }

    /// The pidfds to poll (readable when the hook exits).
    public var descriptors: [Int32] { running.map(\.pidfd) }

    /// The earliest timeout of a running hook.
    public var nextDeadline: UInt64? { running.map(\.deadline).min() }

    public func record(_ event: GuardEvent) {
        guard event.kind != .hookFailed else { return }
        for hook in hooks where hook.events.contains(event.kind.rawValue) {
            start(hook, event)
        }
    }

    func start(_ hook: Hook, _ event: GuardEvent) {
        let now = clock.now()
        guard running.count < maximumRunning else {
            failures(GuardEvent(kind: .hookFailed, time: now, reason: "hook '\(hook.name)' skipped for a \(event.kind.rawValue) event: "
                                + "\(running.count) hooks are still running (daemon.max_running_hooks)"))
            return
        }
        do {
            let pipe = try Files.pipe(nonBlockingWrite: true)
            defer { Files.close(pipe.read) }
            let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CGWARDEN_EVENT=\(event.kind.rawValue)",
                               "CGWARDEN_CGROUP=\(event.cgroup?.description ?? "")", "CGWARDEN_GUARD=\(event.guardName ?? "")"]
            let pid: pid_t
            do {
                pid = try Processes.spawn(hook.command[0], argv: hook.command, environment: environment, input: pipe.read)
            } catch {
                Files.close(pipe.write)
                throw error
            }
            // What fits in the pipe (64 KiB; an event is a few KiB): never blocks.
            let document = Array((event.json.serialized() + "\n").utf8)
            _ = try? document.withUnsafeBytes { try Files.write(pipe.write, $0) }
            Files.close(pipe.write)
            let pidfd: Int32
            do {
                pidfd = try Processes.pidfd(pid)
            } catch {
                // Without a pidfd it is reaped at the next look, blocking at most its timeout.
                running.append(Running(hook: hook, pid: pid, pidfd: -1,
                                       deadline: now.monotonicNanos.addingSaturated(hook.timeout.nanosecondsClamped),
                                       event: event.kind))
                return
            }
            running.append(Running(hook: hook, pid: pid, pidfd: pidfd,
                                   deadline: now.monotonicNanos.addingSaturated(hook.timeout.nanosecondsClamped), event: event.kind))
        } catch {
            failures(GuardEvent(kind: .hookFailed, time: now, reason: "hook '\(hook.name)' could not start: \(error)"))
        }
    }

    /// Reaps hooks that ended and kills those past their timeout; their
    /// failures become events. Called from the guard's loop after a wake.
    public func service() {
        let now = clock.now()
        var still: [Running] = []
        for r in running {
            if let status = try? Processes.wait(r.pid, block: false) {
                finish(r, status: status, now: now)
                continue
            }
            if now.monotonicNanos >= r.deadline {
                // Its process group: what a hook script started goes with it.
                try? Processes.signal(-r.pid, SIGKILL)
                _ = try? Processes.wait(r.pid, block: true)
                if r.pidfd >= 0 { Files.close(r.pidfd) }
                failures(GuardEvent(kind: .hookFailed, time: now,
                                    reason: "hook '\(r.hook.name)' (after a \(r.event.rawValue) event) did not end within \(r.hook.timeout.text): killed"))
                continue
            }
            still.append(r)
        }
        running = still
    }

    func finish(_ r: Running, status: Int32, now: Timestamp) {
        if r.pidfd >= 0 { Files.close(r.pidfd) }
        let end = HelperTermination(waitStatus: status)
        guard end != .exited(0) else { return }
        failures(GuardEvent(kind: .hookFailed, time: now,
                            reason: "hook '\(r.hook.name)' (after a \(r.event.rawValue) event) \(end)"))
    }

    /// Stops: hooks still running are left to finish on their own (they are
    /// the operator's; the guard is going away).
    public func shutdown() {
        for r in running where r.pidfd >= 0 { Files.close(r.pidfd) }
        running = []
    }
}

/// Several sinks as one: the journal (or standard error), the store, the hooks.
public final class EventSinks: EventSink {
    public var sinks: [EventSink]
    public init(_ sinks: [EventSink]) { self.sinks = sinks }
    public func record(_ event: GuardEvent) {
        for s in sinks { s.record(event) }
    }
}
