#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// What the helper does with one request: decode, resolve beneath the root,
/// apply the refusal rules, act. No I/O of its own beyond `fs` and the
/// executor's types, so tests serve requests against a fake cgroupfs.
public final class HelperServer {
    /// The root directory descriptor, opened before the sandbox.
    public let root: Int32
    public let rules: KillRules
    public let info: HelperInfo
    let fs: HelperFileSystem
    let executor: KillExecutor
    /// What `testForbiddenSyscall` does when the test hooks are on.
    let forbidden: () -> Void

    public init(root: Int32, rules: KillRules, info: HelperInfo, fs: HelperFileSystem, executor: KillExecutor,
                forbidden: @escaping () -> Void) {
        self.root = root
        self.rules = rules
        self.info = info
        self.fs = fs
        self.executor = executor
        self.forbidden = forbidden
    }

    /// The reply packet to one request packet, and the descriptor that goes
    /// with it (an armed PSI trigger; the caller sends and then closes it).
    /// Never fails: anything unreadable gets an error reply.
    public func handle(_ packet: [UInt8]) -> (reply: [UInt8], descriptor: Int32?) {
        let request: HelperRequest
        do {
            request = try HelperRequest.decode(packet)
        } catch {
            return (HelperReply.error(error).encoded(requestID: error.requestID), nil)
        }
        if request.action == .armPressure {
            let (reply, fd) = arm(request)
            return (reply.encoded(requestID: request.requestID), fd)
        }
        return (reply(to: request).encoded(requestID: request.requestID), nil)
    }

    /// When the triggers of the last minute were armed (monotonic ns).
    private var recentArms: [UInt64] = []

    /// Resolves the group as for `attributes` (read-only: protected and own
    /// groups too), then arms the trigger on its memory.pressure.
    func arm(_ request: HelperRequest) -> (HelperReply, Int32?) {
        guard let spec = request.pressure else { return (.error(WireError(.malformed, "no trigger")), nil) }
        let now = executor.clock.now().monotonicNanos
        recentArms.removeAll { now.subtractingSaturated($0) >= 60_000_000_000 }
        guard recentArms.count < executor.tunables.pressureArmsPerMinute else {
            return (.failed(HelperStepFailure(.armTrigger, detail: "\(recentArms.count) triggers armed in the last minute",
                                              errno: EAGAIN)), nil)
        }
        let path: CgroupPath
        switch HelperPath.parse(request.path) {
        case .success(let p): path = p
        case .failure(let problem): return (.refused(.invalidPath(problem)), nil)
        }
        let dir: Int32
        do { dir = try fs.openGroup(path, beneath: root) } catch { return (HelperServer.resolutionReply(error, path: path), nil) }
        defer { fs.close(dir) }
        do {
            let status = try fs.status(dir)
            if !status.isDirectory { return (.refused(.notADirectory), nil) }
            if let stale = KillRules.staleness(expected: request.cgroupID, found: status.inode) { return (.refused(stale), nil) }
            let fd = try fs.armPressure(in: dir, spec)
            recentArms.append(now)
            return (.armed, fd)
        } catch {
            return (.failed(HelperStepFailure(.armTrigger, path: path, errno: error.errno)), nil)
        }
    }

    public func reply(to request: HelperRequest) -> HelperReply {
        switch request.action {
        case .ping:
            return .pong(info)
        case .testForbiddenSyscall:
            guard info.testHooks else {
                return .error(WireError(.disabled, "test hooks are off in this helper", requestID: request.requestID))
            }
            forbidden()
            return .error(WireError(.disabled, "the forbidden system call was allowed", requestID: request.requestID))
        case .kill, .check, .attributes:
            return serve(request)
        case .armPressure:
            let (reply, fd) = arm(request)
            if let fd { fs.close(fd) }
            return reply
        }
    }

    private func serve(_ request: HelperRequest) -> HelperReply {
        let path: CgroupPath
        switch HelperPath.parse(request.path) {
        case .success(let p): path = p
        case .failure(let problem): return .refused(.invalidPath(problem))
        }
        let acts = request.action != .attributes
        if acts, let refusal = rules.refusal(forTarget: path) { return .refused(refusal) }

        let dir: Int32
        do {
            dir = try fs.openGroup(path, beneath: root)
        } catch {
            return HelperServer.resolutionReply(error, path: path)
        }
        defer { fs.close(dir) }
        let status: FileStatus
        do {
            status = try fs.status(dir)
        } catch {
            return .failed(HelperStepFailure(.status, path: path, errno: error.errno))
        }
        if !status.isDirectory { return .refused(.notADirectory) }
        if let stale = KillRules.staleness(expected: request.cgroupID, found: status.inode) { return .refused(stale) }

        if acts {
            // cgroup.kill takes the whole subtree: a protected group below
            // refuses it too, and so does cgwarden's own (by id, or by its
            // pid when the id is unknown), and a part the walk cannot see.
            do {
                if let refusal = try executor.subtreeRefusal(of: dir, at: path, id: status.inode, rules: rules,
                                                             guardPIDs: [info.pid]) {
                    return .refused(refusal)
                }
            } catch {
                return .failed(HelperStepFailure(.walkSubtree, path: path, errno: error.errno))
            }
        }
        // Last, so that a fixture root still shows every other refusal.
        if request.action == .kill && !info.rootIsCgroup2 { return .refused(.notCgroup2) }
        switch request.action {
        case .kill: return executor.kill(dir, timeoutMillis: request.timeoutMillis, forceFallback: request.forceFallback)
        case .check: return executor.check(dir, at: path, id: status.inode)
        default: return executor.attributes(dir, owner: status.uid)
        }
    }

    /// How a failed resolution is answered: the errnos of `openBeneath` that
    /// mean "this path names no group beneath the root" are refusals.
    static func resolutionReply(_ error: SystemError, path: CgroupPath) -> HelperReply {
        switch error.errno {
        case ELOOP: return .refused(.symlink)
        case EXDEV: return .refused(.crossesMount)
        case ENOENT: return .refused(.notFound)
        case ENOTDIR: return .refused(.notADirectory)
        default: return .failed(HelperStepFailure(.open, path: path, errno: error.errno))
        }
    }
}
