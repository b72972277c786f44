#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// A helper process: a new image of a program (by default the running
/// binary, `/proc/self/exe`) started with `posix_spawn` and connected to this
/// process by an `AF_UNIX` `SOCK_SEQPACKET` socket pair.
///
/// * Never `fork()`: the parent may be multithreaded (any Swift process with
///   Dispatch or Concurrency is); glibc's `posix_spawn` runs only
///   async-signal-safe code between `clone(CLONE_VM|CLONE_VFORK)` and `execve`.
/// * The helper finds its end at fd ``childDescriptor`` (3); every fd from 4
///   up is closed in the child (`posix_spawn_file_actions_addclosefrom_np`),
///   so nothing leaks even from a parent that opened a file without O_CLOEXEC.
/// * Signal mask cleared and every disposition reset to the default.
/// * `/proc/self/exe` is the running binary's inode, even if the file on
///   disk was replaced by an upgrade since.
/// * The environment is only what is given (by default
///   ``defaultEnvironment``): a privileged helper does not inherit the caller's.
///
/// The helper's death shows as ``ChannelError/closed`` on the next receive;
/// ``waitForExit(timeout:)`` reaps it. Dropped unreaped, it is killed and
/// reaped by `deinit`. The parent must not ignore SIGCHLD (children would be
/// reaped by the kernel) nor `waitpid(-1)`. The helper learns of its parent's
/// death by end-of-file on fd 3 (not `PR_SET_PDEATHSIG`, which follows the
/// spawning *thread*). Not thread-safe: confine an instance to one thread.
public final class HelperProcess {
    /// Where the helper finds its channel end.
    public static let childDescriptor: Int32 = 3

    /// `SWIFT_BACKTRACE=enable=no`: Swift's crash backtracer (on by default on
    /// Linux) catches SIGILL/SIGSEGV, calls `gettid` and tries to spawn
    /// `swift-backtrace`; under a kill-process seccomp filter every runtime
    /// trap would then look like a forbidden system call (SIGSYS). Without
    /// it a trap ends the helper with SIGILL after a one-line message.
    public static let defaultEnvironment = ["SWIFT_BACKTRACE=enable=no"]

    public let pid: pid_t
    /// The parent's end of the channel.
    public let channel: PacketChannel
    /// Set once the helper has been reaped.
    public private(set) var termination: HelperTermination?
    /// What waiting for the helper's exit is measured on.
    public let clock: any Clock

    /// Spawns `executable` with `arguments` (argv[1...]); argv[0] is `argv0`.
    /// Standard input is /dev/null; output and error are inherited, so that a
    /// helper's one-line setup error reaches the operator.
    public init(executable: String = "/proc/self/exe", argv0: String = "cgwarden", arguments: [String],
                environment: [String] = HelperProcess.defaultEnvironment,
                clock: any Clock = SystemClock()) throws(ChannelError) {
        self.clock = clock
        let (parentEnd, childEnd) = try PacketChannel.makePair()
        // dup2(3, 3) would be a no-op that may keep FD_CLOEXEC (glibc clears it
        // since 2.29; do not rely on it): keep the child's end above 3.
        var childSocket = childEnd.descriptor
        if childSocket <= HelperProcess.childDescriptor {
            do {
                childSocket = try Files.duplicate(childEnd.descriptor, atLeast: HelperProcess.childDescriptor + 1)
            } catch {
                throw .system(error)
            }
            childEnd.close()
        }
        // The parent's copy of the child's end is closed at once, so that the
        // helper's death reads as end-of-file on `channel`.
        defer {
            if childSocket != childEnd.descriptor { Files.close(childSocket) }
            childEnd.close()
        }
        do {
            pid = try Processes.spawn(executable, argv: [argv0] + arguments, environment: environment,
                                      passing: childSocket, as: HelperProcess.childDescriptor)
        } catch {
            throw .system(error)
        }
        channel = parentEnd
        channel.clock = clock
    }

    deinit {
        if termination == nil { end() }
        channel.close()
    }

    /// Sends `signal` unless the helper was reaped (its pid may be another
    /// process's by then).
    public func signal(_ signal: Int32 = SIGKILL) {
        if termination == nil { _ = try? Processes.signal(pid, signal) }
    }

    /// Reaps the helper if it has ended, without blocking.
    public func reapIfExited() -> HelperTermination? {
        if let termination { return termination }
        guard let status = (try? Processes.wait(pid, block: false)) ?? nil else { return nil }
        termination = HelperTermination(waitStatus: status)
        return termination
    }

    /// Waits up to `timeout` for the helper to end and reaps it; nil if it
    /// still runs (it is not killed).
    public func waitForExit(timeout: Duration) -> HelperTermination? {
        let deadline = Deadline(after: timeout, clock: clock)
        var pause: UInt64 = 1_000_000   // 1 ms, doubling to 50 ms
        while true {
            if let t = reapIfExited() { return t }
            if deadline.hasPassed { return nil }
            clock.sleep(until: clock.now().monotonicNanos.addingSaturated(pause))
            pause = min(pause * 2, 50_000_000)
        }
    }

    /// Ends the helper: waits `grace` for it to leave on its own (after its
    /// channel was closed), then SIGKILL, then reaps. nil when it could not
    /// be signalled (this process dropped its privileges since it spawned a
    /// root helper) and did not leave within `ownExitWait` either.
    @discardableResult
    public func end(grace: Duration = .zero, ownExitWait: Duration = .seconds(10)) -> HelperTermination? {
        channel.close()
        if grace > .zero, let t = waitForExit(timeout: grace) { return t }
        if termination == nil {
            do {
                try Processes.signal(pid, SIGKILL)
            } catch where error.errno == EPERM {
                return waitForExit(timeout: ownExitWait)
            } catch {}
        }
        if termination == nil {
            // A pid that is not ours to reap (ECHILD) reads as status 0.
            termination = HelperTermination(waitStatus: ((try? Processes.wait(pid, block: true)) ?? nil) ?? 0)
        }
        return termination
    }
}
