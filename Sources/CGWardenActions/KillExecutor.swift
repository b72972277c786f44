#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// Kills, checks and reads one opened group: what the helper does after a
/// request passed resolution and the refusal rules. Every system call goes
/// through `fs`, `signaller` and `clock`, so tests run it on a fake cgroupfs.
public struct KillExecutor {
    public var fs: HelperFileSystem
    public var signaller: ProcessSignaller
    public var clock: Clock
    public var tunables: KillTunables
    let buffer: ReadBuffer

    public init(fs: HelperFileSystem, signaller: ProcessSignaller, clock: Clock, tunables: KillTunables = .standard) {
        self.fs = fs
        self.signaller = signaller
        self.clock = clock
        self.tunables = tunables
        self.buffer = ReadBuffer()
    }

    // MARK: kill

    /// Kills every process in the subtree of `dir` and waits up to
    /// `timeoutMillis` for `populated 0`.
    public func kill(_ dir: Int32, timeoutMillis: UInt32, forceFallback: Bool) -> HelperReply {
        let events: Int32
        do {
            events = try fs.openFile("cgroup.events", in: dir, forWriting: false)
        } catch {
            return .failed(HelperStepFailure(.openEvents, errno: error.errno))
        }
        defer { fs.close(events) }
        let before = memoryCurrent(dir)
        let start = now()
        let deadline = start.addingSaturated(UInt64(timeoutMillis) * 1_000_000)

        var fallback: FallbackReason? = forceFallback ? .forced : nil
        // Handles on the processes before they die: their memory can then be
        // reaped at once (process_mrelease), not when each exit completes.
        let handles = fallback == nil ? processHandles(dir) : []
        defer { for fd in handles { signaller.closeHandle(fd) } }
        var released: UInt32 = 0
        if fallback == nil {
            switch writeControl("cgroup.kill", "1", in: dir) {
            case .success:
                for fd in handles where signaller.releaseMemory(fd) { released &+= 1 }
            case .failure(let e) where e.errno == ENOENT: fallback = .noCgroupKill
            case .failure(let e) where e.errno == EOPNOTSUPP: fallback = .notSupported
            case .failure(let e): return .failed(HelperStepFailure(.writeKill, errno: e.errno))
            }
        }
        var report = KillReport(method: fallback == nil ? .cgroupKill : .freezeAndSignal, fallbackReason: fallback,
                                memoryBefore: before, released: released)
        var empty: Bool
        if fallback == nil {
            empty = waitUntil(events, deadline: deadline) { !$0.populated }
        } else {
            switch freezeAndSignal(dir, events: events, deadline: deadline, report: &report) {
            case .success(let e): empty = e
            case .failure(let f): return .failed(f)
            }
        }
        if !empty { empty = waitUntil(events, deadline: deadline) { !$0.populated } }
        report.durationNanos = now().subtractingSaturated(start)
        if empty {
            report.memoryAfter = memoryCurrent(dir)
            return .killed(report)
        }
        report.remaining = UInt32(clamping: (try? collectPIDs(dir).count) ?? 0)
        report.memoryAfter = memoryCurrent(dir)
        return .incomplete(report)
    }

    /// The fallback: freeze the group (a frozen task cannot fork; it can
    /// still be killed), SIGKILL every pid listed in the subtree, thaw, and
    /// again until the group is empty or the rounds or the time run out.
    /// Success carries whether it emptied the group.
    func freezeAndSignal(_ dir: Int32, events: Int32, deadline: UInt64,
                         report: inout KillReport) -> Result<Bool, HelperStepFailure> {
        // cgroup.freeze exists since 5.2; where it is missing (or refuses, as
        // in a threaded group) the loop still runs, unfrozen.
        var canFreeze = true
        var frozeOnce = false
        defer { if frozeOnce { _ = writeControl("cgroup.freeze", "0", in: dir) } }
        report.rounds = 0
        var firstError: SystemError?
        while Int(report.rounds) < tunables.fallbackRounds && now() < deadline {
            report.rounds += 1
            if canFreeze {
                if case .failure = writeControl("cgroup.freeze", "1", in: dir) {
                    canFreeze = false
                } else {
                    frozeOnce = true
                    let settle = min(deadline, now().addingSaturated(UInt64(clamping: tunables.freezeSettleMillis) * 1_000_000))
                    _ = waitUntil(events, deadline: settle) { $0.frozen == true || !$0.populated }
                }
            }
            let pids: [Int32]
            do {
                pids = try collectPIDs(dir)
            } catch {
                return .failure(HelperStepFailure(.readProcs, errno: error.errno))
            }
            for pid in pids {
                do {
                    try signaller.sigkill(pid)
                    report.signalled &+= 1
                } catch {
                    firstError = firstError ?? error
                }
            }
            if canFreeze { _ = writeControl("cgroup.freeze", "0", in: dir) }
            let wait = min(deadline, now().addingSaturated(UInt64(clamping: tunables.roundWaitMillis) * 1_000_000))
            if waitUntil(events, deadline: wait, { !$0.populated }) { return .success(true) }
        }
        if let firstError, report.signalled == 0 {
            return .failure(HelperStepFailure(.signal, errno: firstError.errno))
        }
        return .success(false)
    }

    // MARK: check and attributes

    /// Dry run: what a kill would take.
    public func check(_ dir: Int32, at path: CgroupPath, id: UInt64) -> HelperReply {
        var groups: UInt32 = 0
        var processes: UInt32 = 0
        do {
            try forEachGroup(dir, at: path, id: id) { fd throws(SystemError) in
                groups &+= 1
                processes &+= UInt32(clamping: try pidsOfGroup(fd).count)
            }
        } catch {
            return .failed(HelperStepFailure(.walkSubtree, path: path, errno: error.errno))
        }
        return .checked(CheckReport(processes: processes, groups: groups, memoryCurrent: memoryCurrent(dir)))
    }

    /// The owner and preference xattrs of `dir`.
    public func attributes(_ dir: Int32, owner: UInt32) -> HelperReply {
        var values: [String: String] = [:]
        // 255 bytes: a preference is a word or a number; a longer value is no valid one.
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 255, alignment: 1)
        defer { raw.deallocate() }
        for name in CgroupAttributes.names {
            do {
                if let n = try fs.attribute(name, of: dir, into: raw) {
                    values[name] = String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<n]), as: UTF8.self)
                }
            } catch {
                return .failed(HelperStepFailure(.readAttribute, detail: name, errno: error.errno))
            }
        }
        return .attributes(CgroupAttributes(ownerUID: owner, values: values))
    }

    // MARK: the subtree

    /// Calls `body` with a descriptor of `dir` and of every group below it
    /// (pre-order). A group removed during the walk is skipped; one the walk
    /// cannot see into (a mount point) is skipped too: the protection check
    /// refused the kill of such a subtree before any of this runs.
    func forEachGroup(_ dir: Int32, at path: CgroupPath = .root, id: UInt64? = nil,
                      _ body: (Int32) throws(SystemError) -> Void) throws(SystemError) {
        try SubtreeWalk(fs: fs).walk(dir, at: path, id: id) { event throws(SystemError) in
            if case .group(let fd, _, _) = event { try body(fd) }
            return true
        }
    }

    /// Why the subtree of `dir` (the target, at `path`) may not be killed:
    /// a group below it matches the rules (protected, or cgwarden's own by
    /// id), the walk cannot see into part of it, or, when cgwarden's own
    /// cgroup is unknown, a group in it lists one of `guardPIDs` or cannot
    /// be read. nil when nothing refuses.
    func subtreeRefusal(of dir: Int32, at path: CgroupPath, id: UInt64, rules: KillRules,
                        guardPIDs: [Int32]) throws(SystemError) -> HelperRefusal? {
        var refusal: HelperRefusal?
        let searchPIDs = rules.own == .unknown
        try SubtreeWalk(fs: fs).walk(dir, at: path, id: id) { event throws(SystemError) in
            switch event {
            case .unseen(let p, let e):
                refusal = .unseenSubtree(p, errno: e)
            case .group(let fd, let p, let groupID):
                if p != path, let r = rules.refusal(forDescendant: p, id: groupID, target: path) {
                    refusal = r
                } else if searchPIDs {
                    do {
                        if try pidsOfGroup(fd).contains(where: guardPIDs.contains) {
                            refusal = rules.ownRefusal(p, target: path)
                        }
                    } catch {
                        refusal = .ownCgroupUnknown
                    }
                }
            }
            return refusal == nil
        }
        return refusal
    }

    /// pidfds of the first `tunables.releaseMemoryOf` processes of the subtree.
    func processHandles(_ dir: Int32) -> [Int32] {
        guard tunables.releaseMemoryOf > 0, let pids = try? collectPIDs(dir) else { return [] }
        return pids.prefix(tunables.releaseMemoryOf).compactMap { signaller.pidfd($0) }
    }

    /// Every pid listed in the subtree.
    func collectPIDs(_ dir: Int32) throws(SystemError) -> [Int32] {
        var all: [Int32] = []
        try forEachGroup(dir) { fd throws(SystemError) in all += try pidsOfGroup(fd) }
        return all
    }

    /// `cgroup.procs` of one group; in a threaded group, where it cannot be
    /// read, the thread ids of `cgroup.threads` (kill() of a thread id
    /// signals its whole process).
    func pidsOfGroup(_ dir: Int32) throws(SystemError) -> [Int32] {
        do {
            return try readControl("cgroup.procs", in: dir) { b in try? Parse.pids(b) } ?? []
        } catch where error.errno == EOPNOTSUPP {
            return try readControl("cgroup.threads", in: dir) { b in try? Parse.pids(b, file: "cgroup.threads") } ?? []
        } catch where error.isVanished {
            return []
        }
    }

    // MARK: files

    func memoryCurrent(_ dir: Int32) -> UInt64? {
        (try? readControl("memory.current", in: dir) { b in try? Parse.bytes(b, file: "memory.current") }) ?? nil
    }

    func readControl<T>(_ name: String, in dir: Int32, _ parse: (Bytes) -> T) throws(SystemError) -> T {
        let fd = try fs.openFile(name, in: dir, forWriting: false)
        defer { fs.close(fd) }
        return parse(try buffer.read(fd, fs: fs))
    }

    func writeControl(_ name: String, _ value: String, in dir: Int32) -> Result<Void, SystemError> {
        do {
            let fd = try fs.openFile(name, in: dir, forWriting: true)
            defer { fs.close(fd) }
            try fs.write(fd, Array(value.utf8))
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Reads `cgroup.events` until `condition` holds or `deadline` passes
    /// (read, then poll for POLLPRI: kernfs reports a change since the last read).
    func waitUntil(_ events: Int32, deadline: UInt64, _ condition: (CgroupEvents) -> Bool) -> Bool {
        while true {
            do {
                if condition(try Parse.cgroupEvents(buffer.read(events, fs: fs))) { return true }
            } catch let e as SystemError where e.errno == ENODEV {
                // Removed: the kernel removes only an empty group (rmdir is
                // EBUSY while populated), as systemd does a transient unit's
                // the moment it empties. Nothing is left to wait for.
                return true
            } catch {}
            let t = now()
            if t >= deadline { return false }
            let left = Int32(clamping: (deadline - t).addingSaturated(999_999) / 1_000_000)
            fs.waitForChange(events, milliseconds: min(left, tunables.pollSliceMillis))
        }
    }

    func now() -> UInt64 { clock.now().monotonicNanos }
}

extension ReadBuffer {
    /// Reads the whole file open at `fd` with one `pread` from offset 0
    /// through `fs` (see `ReadBuffer.read`).
    func read(_ fd: Int32, fs: HelperFileSystem) throws(SystemError) -> Bytes {
        try read { b throws(SystemError) in try fs.read(fd, into: b) }
    }
}
