#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSandbox
import CGWardenSystem

/// A request the helper did not carry out: refused by its rules, or failed.
public enum HelperRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case refused(HelperRefusal)
    case failed(HelperFailure)

    public var description: String {
        switch self {
        case .refused(let r): return "refused: \(r)"
        case .failed(let f): return "\(f)"
        }
    }
}

/// The unprivileged side's handle on the kill helper: spawns it, sends it
/// requests, and when it dies reports the request in flight as failed,
/// starts a new one and carries on.
///
/// ```swift
/// var c = KillHelperClient.Configuration()
/// c.protected = [CgroupPattern("/system.slice/**")]
/// c.useLauncher = getuid() == 0          // privileges are dropped next
/// let helper = try KillHelperClient(c)   // spawned (and pinged) here
/// try Privileges.drop(toUser: 65534, group: 65534)
/// let outcome = helper.kill(CgroupTarget(path: p, id: id))
/// let attrs = try helper.attributes(of: CgroupTarget(path: p, id: id))
/// ```
///
/// Blocking calls; not thread-safe: confine an instance to one thread,
/// task or actor.
public final class KillHelperClient {
    public struct Configuration: Sendable {
        /// The cgwarden binary (the running one by default).
        public var executable = "/proc/self/exe"
        /// What every helper is spawned with (see KillHelperProcess.Settings).
        public var settings = KillHelperProcess.Settings()
        /// Spawn helpers through a privileged launcher, so that a new helper
        /// can be started after this process dropped its privileges.
        public var useLauncher = false
        /// The environment of the launcher and helpers.
        public var environment = KillHelperProcess.helperEnvironment
        /// How long a ping, check or attributes request may take. A check
        /// walks a subtree; 10 s is far above a walk of 10,000 groups.
        public var requestTimeout: Duration = .seconds(10)
        /// How long a new helper may take to answer its first ping (exec,
        /// the dynamic loader, the seccomp filter): longer than a request on
        /// a loaded node; the longer of this and `requestTimeout` applies.
        public var startTimeout: Duration = .seconds(10)
        /// Beyond a kill's own timeout, how long to wait for its reply.
        public var replyGrace: Duration = .seconds(5)
        /// What the timeouts are measured on.
        public var clock: any Clock = SystemClock()

        public init() {}
    }

    public let configuration: Configuration
    private let spawner: HelperSpawner
    private var channel: PacketChannel?
    /// The current helper, as its last ping described it.
    public private(set) var info: HelperInfo?
    /// How the last helper that ended ended (SIGSYS for a seccomp kill).
    public private(set) var lastTermination: HelperTermination?
    /// Helpers started after the first.
    public private(set) var respawns = 0
    private var nextRequestID: UInt32 = 1

    /// Spawns the first helper (and the launcher, if configured) and pings it.
    public init(_ configuration: Configuration) throws(HelperRequestError) {
        self.configuration = configuration
        if configuration.useLauncher {
            do {
                spawner = try LauncherSpawner(configuration)
            } catch {
                throw .failed(.unavailable("cannot spawn the launcher: \(error)"))
            }
        } else {
            spawner = DirectSpawner(configuration)
        }
        if let failure = start() { throw .failed(failure) }
        respawns = 0
    }

    deinit {
        // The helper leaves at end-of-file on its channel; then its spawner ends.
        channel?.close()
        spawner.shutdown()
    }

    /// The current helper's pid.
    public var helperPID: Int32? { info?.pid }

    /// The pid of the launcher, when there is one.
    public var launcherPID: Int32? { (spawner as? LauncherSpawner)?.launcher.pid }

    // MARK: requests

    /// Kills every process of `target`'s subtree and waits up to `timeout`
    /// for `populated 0`. `forceFallback` takes the freeze + SIGKILL path
    /// even where `cgroup.kill` exists.
    public func kill(_ target: CgroupTarget, timeout: Duration = .milliseconds(Int64(KillTunables.defaultKillTimeoutMillis)),
                     forceFallback: Bool = false) -> KillOutcome {
        let ms = UInt32(clamping: max(1, timeout.millisecondsClamped))
        let id = takeID()
        let r = exchange(HelperRequest.kill(target, id: id, timeoutMillis: min(ms, HelperWire.maxTimeoutMillis),
                                            forceFallback: forceFallback).encoded(),
                         id: id, timeout: timeout + configuration.replyGrace)
        switch r {
        case .success(.killed(let k)): return .killed(k)
        case .success(.incomplete(let k)): return .incomplete(k)
        case .success(let other): return KillHelperClient.otherOutcome(other)
        case .failure(let f): return .failed(f)
        }
    }

    /// Dry run: the same resolution and checks as `kill`, stopping before the write.
    public func check(_ target: CgroupTarget) -> KillOutcome {
        let id = takeID()
        switch exchange(HelperRequest.check(target, id: id).encoded(), id: id, timeout: configuration.requestTimeout) {
        case .success(.checked(let c)): return .wouldKill(c)
        case .success(let other): return KillHelperClient.otherOutcome(other)
        case .failure(let f): return .failed(f)
        }
    }

    /// The owner uid and the preference xattrs of `target` (read by the
    /// helper: `trusted.*` needs CAP_SYS_ADMIN). Refused only when the path
    /// or id names no group; protected and own groups are read.
    public func attributes(of target: CgroupTarget) throws(HelperRequestError) -> CgroupAttributes {
        let id = takeID()
        switch exchange(HelperRequest.attributes(target, id: id).encoded(), id: id, timeout: configuration.requestTimeout) {
        case .success(.attributes(let a)): return a
        case .success(.refused(let r)): throw .refused(r)
        case .success(let other):
            if case .failed(let f) = KillHelperClient.otherOutcome(other) { throw .failed(f) }
            throw .failed(.protocolError("unexpected reply to attributes"))
        case .failure(let f): throw .failed(f)
        }
    }

    /// A PSI trigger armed on `target`'s memory.pressure by the helper: the
    /// descriptor to poll for POLLPRI (the caller closes it).
    public func armPressure(on target: CgroupTarget, _ spec: PressureTriggerSpec) throws(HelperRequestError) -> Int32 {
        let id = takeID()
        var passed: Int32?
        let r = exchange(HelperRequest.armPressure(target, spec, id: id).encoded(), id: id,
                         timeout: configuration.requestTimeout, descriptor: { passed = $0 })
        switch r {
        case .success(.armed):
            guard let passed else { throw .failed(.protocolError("armed without a descriptor")) }
            return passed
        case .success(let other):
            if let passed { Files.close(passed) }
            switch KillHelperClient.otherOutcome(other) {
            case .refused(let why): throw .refused(why)
            case .failed(let f): throw .failed(f)
            default: throw .failed(.protocolError("unexpected reply to arm-pressure"))
            }
        case .failure(let f):
            if let passed { Files.close(passed) }
            throw .failed(f)
        }
    }

    /// Asks the helper who it is.
    public func ping() throws(HelperRequestError) -> HelperInfo {
        let id = takeID()
        switch exchange(HelperRequest(requestID: id, action: .ping).encoded(), id: id, timeout: configuration.requestTimeout) {
        case .success(.pong(let i)):
            info = i
            return i
        case .success: throw .failed(.protocolError("unexpected reply to ping"))
        case .failure(let f): throw .failed(f)
        }
    }

    /// Tests only: asks the helper to make a forbidden system call (see
    /// HelperAction.testForbiddenSyscall). The expected outcome is
    /// `.failed(.helperDied(.signaled(SIGSYS)))` and a new helper.
    public func requestForbiddenSyscall() -> Result<HelperReply, HelperFailure> {
        let id = takeID()
        return exchange(HelperRequest(requestID: id, action: .testForbiddenSyscall).encoded(), id: id,
                        timeout: configuration.requestTimeout)
    }

    /// Tests only: sends raw bytes as one packet and returns the reply to them
    /// (whatever request id it carries).
    public func exchangeRaw(_ packet: [UInt8], timeout: Duration = .seconds(10)) -> Result<(UInt32, HelperReply), HelperFailure> {
        var answeredID: UInt32 = 0
        let r = exchange(packet, id: nil, timeout: timeout) { answeredID = $0 }
        return r.map { (answeredID, $0) }
    }

    /// Ends the helper (and the launcher): closing the channels is enough,
    /// they leave at end-of-file.
    public func shutdown() {
        channel?.close()
        channel = nil
        spawner.shutdown()
    }

    // MARK: the exchange

    private func takeID() -> UInt32 {
        defer { nextRequestID = nextRequestID == .max ? 1 : nextRequestID + 1 }
        return nextRequestID
    }

    static func otherOutcome(_ reply: HelperReply) -> KillOutcome {
        switch reply {
        case .refused(let r): return .refused(r)
        case .failed(let f): return .failed(.system(f))
        case .error(let e): return .failed(.protocolError(e.description))
        default: return .failed(.protocolError("unexpected reply \(reply)"))
        }
    }

    /// Sends one packet and waits for the reply carrying `id` (replies to
    /// requests that timed out earlier are skipped). A helper that is gone
    /// before the send gets the request again from a new one (it never saw
    /// it); one that dies or stays silent with the request in flight fails
    /// it, and is replaced.
    private func exchange(_ packet: [UInt8], id: UInt32?, timeout: Duration,
                          answered: (UInt32) -> Void = { _ in },
                          descriptor: ((Int32) -> Void)? = nil) -> Result<HelperReply, HelperFailure> {
        if channel == nil, let f = start() { return .failure(f) }
        do {
            try channel!.send(packet)
        } catch .closed {
            if let f = replace() { return .failure(f) }
            do { try channel!.send(packet) } catch { return .failure(failInFlight(.helperDied(nil))) }
        } catch {
            return .failure(failInFlight(.protocolError("send: \(error)")))
        }
        let deadline = Deadline(after: timeout, clock: configuration.clock)
        while true {
            let message: [UInt8]
            do {
                let ms = deadline.millisecondsLeft()
                guard let m = try channel!.receiveWithDescriptor(maximumSize: HelperWire.maxReplySize,
                                                                 timeout: .milliseconds(Int64(ms)),
                                                                 acceptDescriptor: descriptor != nil) else {
                    return .failure(failInFlight(.helperDied(nil)))
                }
                message = m.message
                if let fd = m.descriptor {
                    // Only the reply to this request may carry one; any other is closed.
                    if let descriptor, let id, let d = try? HelperReply.decode(message), d.requestID == id {
                        descriptor(fd)
                    } else {
                        Files.close(fd)
                    }
                }
            } catch .timedOut {
                return .failure(failInFlight(.timedOut(milliseconds: timeout.millisecondsClamped)))
            } catch {
                return .failure(failInFlight(.protocolError("receive: \(error)")))
            }
            let decoded: (requestID: UInt32, reply: HelperReply)
            do {
                decoded = try HelperReply.decode(message)
            } catch {
                return .failure(failInFlight(.protocolError("unreadable reply: \(error)")))
            }
            if let id, decoded.requestID != id && decoded.requestID != 0 { continue }   // a late reply
            answered(decoded.requestID)
            return .success(decoded.reply)
        }
    }

    /// Replaces the helper after a failure in flight (the spawner ends it:
    /// SIGKILL and reap, which keeps the status of one already dead) and
    /// returns the failure to report, with the old helper's end filled in.
    private func failInFlight(_ failure: HelperFailure) -> HelperFailure {
        _ = replace()
        if case .helperDied = failure { return .helperDied(lastTermination) }
        return failure
    }

    /// Ends the current helper and starts another; nil when it answers.
    private func replace() -> HelperFailure? {
        channel?.close()
        channel = nil
        respawns += 1
        return start()
    }

    /// Spawns a helper (ending the previous one) and pings it.
    private func start() -> HelperFailure? {
        let spawned: SpawnedHelper
        do {
            spawned = try spawner.respawn()
        } catch let failure {
            info = nil
            return failure
        }
        if let p = spawned.previous { lastTermination = p }
        channel = spawned.channel
        let id = takeID()
        do {
            try spawned.channel.send(HelperRequest(requestID: id, action: .ping).encoded())
            guard let m = try spawned.channel.receive(maximumSize: HelperWire.maxReplySize,
                                                      timeout: max(configuration.startTimeout, configuration.requestTimeout)),
                  case (id, .pong(let i)) = try HelperReply.decode(m) else {
                throw ChannelError.closed
            }
            info = i
            return nil
        } catch {
            channel = nil
            info = nil
            let end = spawner.endCurrent()
            if let end { lastTermination = end }
            return .unavailable("the helper did not start (\(end.map { "\($0)" } ?? "no answer"); its error is on stderr)")
        }
    }
}

/// A new helper: its channel, pid, and how the one it replaced ended.
struct SpawnedHelper {
    var channel: PacketChannel
    var pid: Int32
    var previous: HelperTermination?
}

/// Where helpers come from.
protocol HelperSpawner: AnyObject {
    /// Ends the current helper, if any (reaping it), and starts another.
    func respawn() throws(HelperFailure) -> SpawnedHelper
    /// Ends the current helper now; how it ended, when known.
    func endCurrent() -> HelperTermination?
    func shutdown()
}

/// Spawns helpers from this process: when it keeps its privileges (not
/// root, or no drop), or in tests.
final class DirectSpawner: HelperSpawner {
    let configuration: KillHelperClient.Configuration
    var current: HelperProcess?

    init(_ configuration: KillHelperClient.Configuration) { self.configuration = configuration }

    func respawn() throws(HelperFailure) -> SpawnedHelper {
        let previous = endCurrent()
        do {
            let h = try HelperProcess(executable: configuration.executable,
                                      arguments: configuration.settings.arguments(launcher: false),
                                      environment: configuration.environment, clock: configuration.clock)
            current = h
            return SpawnedHelper(channel: h.channel, pid: h.pid, previous: previous)
        } catch {
            throw .unavailable("cannot spawn \(configuration.executable): \(error)")
        }
    }

    func endCurrent() -> HelperTermination? {
        defer { current = nil }
        return current?.end()
    }

    func shutdown() { current?.end(grace: .seconds(2)); current = nil }
}

/// Asks a privileged launcher (spawned from this process before it dropped
/// its privileges) for each helper: the launcher ends and reaps the old one
/// and passes the new one's channel back.
final class LauncherSpawner: HelperSpawner {
    let launcher: HelperProcess
    /// Spawning a process under TCG emulation takes a while; a launcher that
    /// does not answer in this time is taken for dead.
    static let spawnTimeout: Duration = .seconds(20)

    init(_ configuration: KillHelperClient.Configuration) throws(ChannelError) {
        launcher = try HelperProcess(executable: configuration.executable,
                                     arguments: configuration.settings.arguments(launcher: true),
                                     environment: configuration.environment, clock: configuration.clock)
    }

    func respawn() throws(HelperFailure) -> SpawnedHelper {
        let received: (message: [UInt8], descriptor: Int32?)?
        do {
            try launcher.channel.send(LauncherWire.spawnRequest)
            received = try launcher.channel.receiveWithDescriptor(maximumSize: 64, timeout: LauncherSpawner.spawnTimeout)
        } catch {
            throw .unavailable("launcher: \(error)")
        }
        guard let (message, fd) = received else {
            throw .unavailable("the launcher is gone (\(launcher.reapIfExited().map { "\($0)" } ?? "running"))")
        }
        let reply: LauncherWire.Reply
        do {
            reply = try LauncherWire.decode(message)
        } catch {
            if let fd { Files.close(fd) }
            throw .protocolError("launcher: \(error)")
        }
        switch reply.result {
        case .success(let pid):
            guard let fd else { throw .protocolError("the launcher passed no channel") }
            let channel = PacketChannel(adopting: fd)
            channel.clock = launcher.clock
            return SpawnedHelper(channel: channel, pid: pid, previous: reply.previous)
        case .failure(let f):
            if let fd { Files.close(fd) }
            throw .unavailable("the launcher could not spawn a helper: errno \(f.errno)")
        }
    }

    /// The launcher ends the current helper on the next spawn; until then it
    /// stays (it has no request to answer).
    func endCurrent() -> HelperTermination? { nil }

    func shutdown() { launcher.end(grace: .seconds(3)) }
}
