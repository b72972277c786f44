#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenPolicy
import CGWardenSystem
import CGWardenTestSupport
@testable import CGWardenService

/// Hooks are ordinary processes (sh, sleep): these run on the host.
@Suite(.serialized) struct HookRunnerTests {
    final class Failures: @unchecked Sendable {
        var events: [GuardEvent] = []
    }

    func hook(_ name: String, _ command: [String], events: Set<String> = ["kill"], timeout: Duration = .seconds(10)) -> Hook {
        var h = Hook(name: name, origin: ConfigOrigin(file: "t.toml", line: 1), command: command)
        h.events = events
        h.timeout = timeout
        return h
    }

    func killEvent(_ path: String = "/tenants.slice/a") -> GuardEvent {
        var e = GuardEvent(kind: .kill, time: SystemClock().now(), guardName: "tenants", cgroup: CgroupPath(path), cgroupID: 42,
                           reason: "largest usage", memoryBefore: 1 << 30)
        e.method = "cgroup.kill"
        return e
    }

    /// Polls the runner as the daemon's loop does, until no hook runs or `limit` passes.
    func drive(_ runner: HookRunner, limit: Duration = .seconds(10)) {
        let deadline = Deadline(after: limit, clock: SystemClock())
        while !runner.running.isEmpty, !deadline.hasPassed {
            let interests = runner.descriptors.map { Poller.Interest(fd: $0, events: Int16(POLLIN)) }
            var wait: Int32 = 50
            if let d = runner.nextDeadline {
                wait = min(wait, Int32(clamping: d.subtractingSaturated(SystemClock().now().monotonicNanos) / 1_000_000 + 1))
            }
            _ = try? Poller.wait(interests, milliseconds: wait)
            runner.service()
        }
    }

    @Test func aHookGetsTheEventAsJSONOnItsStandardInputAndItsKindInTheEnvironment() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("save", ["/bin/sh", "-c", "cat > \(dir.path)/event.json; echo \"$CGWARDEN_EVENT $CGWARDEN_CGROUP $CGWARDEN_GUARD\" > \(dir.path)/env"])],
                                maximumRunning: 4, clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent())
        #expect(runner.running.count == 1)
        drive(runner)
        #expect(runner.running.isEmpty)
        #expect(failures.events.isEmpty)
        let json = try #require(readFile(dir.path + "/event.json"))
        #expect(json.hasSuffix("}\n"))
        #expect(json.contains("\"kind\":\"kill\""))
        #expect(json.contains("\"cgroup\":\"/tenants.slice/a\""))
        #expect(json.contains("\"guard\":\"tenants\""))
        #expect(readFile(dir.path + "/env") == "kill /tenants.slice/a tenants\n")
    }

    @Test func onlyTheKindsAHookListsRunIt() {
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("oom-only", ["/bin/true"], events: ["oom"])], maximumRunning: 4,
                                clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent())
        #expect(runner.running.isEmpty)
        runner.record(GuardEvent(kind: .oom, time: SystemClock().now(), cgroup: CgroupPath("/a")))
        #expect(runner.running.count == 1)
        drive(runner)
        #expect(failures.events.isEmpty)
    }

    @Test func aFailingHookIsAHookFailedEventAndRunsNoHook() throws {
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("broken", ["/bin/sh", "-c", "exit 3"], events: ["kill", "hook_failed"])],
                                maximumRunning: 4, clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent())
        drive(runner)
        #expect(failures.events.map(\.kind) == [.hookFailed])
        let reason = try #require(failures.events.first?.reason)
        #expect(reason.contains("hook 'broken' (after a kill event)"))
        #expect(reason.contains("3"))
        // The failure event itself starts nothing, even for a hook listing it.
        runner.record(failures.events[0])
        #expect(runner.running.isEmpty)
    }

    @Test func aHookPastItsTimeoutIsKilledWithItsChildren() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let failures = Failures()
        // The script starts a child that would outlive it: the process group goes.
        let runner = HookRunner(hooks: [hook("slow", ["/bin/sh", "-c", "sleep 30 & echo $! > \(dir.path)/child; wait"],
                                             timeout: .milliseconds(300))],
                                maximumRunning: 4, clock: SystemClock()) { failures.events.append($0) }
        let start = SystemClock().now().monotonicNanos
        runner.record(killEvent())
        drive(runner)
        let took = SystemClock().now().monotonicNanos - start
        #expect(runner.running.isEmpty)
        #expect(took < 5_000_000_000)
        #expect(failures.events.map(\.kind) == [.hookFailed])
        #expect(failures.events.first?.reason?.contains("did not end within 300ms: killed") == true)
        let child = try #require(readFile(dir.path + "/child").flatMap { Int32($0.trimmingSuffix()) })
        // The orphan was killed with the group (reaped by init; give it a moment).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(child, 0) != 0 || isZombie(child)
            if !gone { usleep(20_000) }
        }
        #expect(gone)
    }

    func isZombie(_ pid: Int32) -> Bool {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    @Test func pastTheLimitAHookIsSkippedAndThatIsAnEvent() {
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("slow", ["/bin/sleep", "0.3"])], maximumRunning: 1,
                                clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent("/a"))
        runner.record(killEvent("/b"))
        #expect(runner.running.count == 1)
        #expect(failures.events.map(\.kind) == [.hookFailed])
        #expect(failures.events.first?.reason?.contains("skipped for a kill event: 1 hooks are still running (daemon.max_running_hooks)") == true)
        drive(runner)
        #expect(failures.events.count == 1)
        // Room again once it ended.
        runner.record(killEvent("/c"))
        #expect(runner.running.count == 1)
        drive(runner)
    }

    @Test func aCommandThatCannotStartIsAnEvent() {
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("missing", ["/nonexistent/hook"])], maximumRunning: 4,
                                clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent())
        drive(runner)
        #expect(failures.events.map(\.kind) == [.hookFailed])
        // posix_spawn reports the exec failure either at once or as exit 127.
        #expect(failures.events.first?.reason?.contains("hook 'missing'") == true)
    }

    @Test func aReloadKeepsRunningHooksAndUsesTheNewList() {
        let failures = Failures()
        let runner = HookRunner(hooks: [hook("a", ["/bin/sleep", "0.2"])], maximumRunning: 4,
                                clock: SystemClock()) { failures.events.append($0) }
        runner.record(killEvent())
        runner.configure([hook("b", ["/bin/true"], events: ["oom"])], maximumRunning: 2)
        #expect(runner.running.count == 1)
        runner.record(killEvent())
        #expect(runner.running.count == 1)
        drive(runner)
        #expect(failures.events.isEmpty)
    }
}

extension String {
    func trimmingSuffix() -> String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }
}
