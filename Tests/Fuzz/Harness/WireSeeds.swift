import CGWardenCore

/// The wire corpus: one valid encoding of every request, reply and launcher
/// message kind, made by the encoders themselves (`--write-wire-seeds`).
enum WireSeeds {
    static var messages: [(String, [UInt8])] {
        let a = CgroupTarget(path: CgroupPath("/tenants.slice/a.slice")!, id: 4242)
        let deep = CgroupTarget(path: CgroupPath("/" + Array(repeating: "x", count: 40).joined(separator: "/"))!, id: .max)
        var out: [(String, [UInt8])] = [
            ("request-ping", HelperRequest(requestID: 1, action: .ping).encoded()),
            ("request-kill", HelperRequest.kill(a, id: 2, timeoutMillis: 10_000).encoded()),
            ("request-kill-fallback", HelperRequest.kill(a, id: .max, timeoutMillis: HelperWire.maxTimeoutMillis, forceFallback: true).encoded()),
            ("request-check-deep", HelperRequest.check(deep, id: 3).encoded()),
            ("request-attributes", HelperRequest.attributes(a, id: 4).encoded()),
            ("request-test-forbidden", HelperRequest(requestID: 5, action: .testForbiddenSyscall).encoded()),
            ("request-arm-pressure", HelperRequest.armPressure(a, PressureTriggerSpec(full: true, stallMicros: 150_000,
                                                                                      windowMicros: 1_000_000), id: 6).encoded()),
        ]
        let report = KillReport(method: .cgroupKill, rounds: 1, signalled: 0, remaining: 0, durationNanos: 1_234_567,
                                memoryBefore: 64 << 20, memoryAfter: 0, released: 3)
        let fallback = KillReport(method: .freezeAndSignal, fallbackReason: .noCgroupKill, rounds: .max, signalled: .max,
                                  remaining: 3, durationNanos: .max, memoryBefore: .max, memoryAfter: nil)
        let replies: [(String, HelperReply)] = [
            ("pong", .pong(HelperInfo(pid: 77, seccomp: true, rootIsCgroup2: true, testHooks: false,
                                      own: .at(CgroupPath("/system.slice/cgwarden.service")!, id: 31)))),
            ("pong-outside", .pong(HelperInfo(pid: .max, seccomp: false, rootIsCgroup2: false, testHooks: true, own: .outside))),
            ("pong-unknown", .pong(HelperInfo(pid: 1, seccomp: true, rootIsCgroup2: true, testHooks: false, own: .unknown))),
            ("killed", .killed(report)),
            ("incomplete", .incomplete(fallback)),
            ("refused-invalid-path", .refused(.invalidPath(.dotDot))),
            ("refused-root", .refused(.root)),
            ("refused-own", .refused(.ownCgroup(CgroupPath("/system.slice/cgwarden.service")!))),
            ("refused-ancestor", .refused(.ancestorOfOwn(own: CgroupPath("/system.slice/cgwarden.service")!))),
            ("refused-protected", .refused(.protected(CgroupPath("/kubepods.slice/pod1/critical-db.scope")!, pattern: "/kubepods.slice/*/critical-*"))),
            ("refused-stale", .refused(.staleID(expected: 1, found: .max))),
            ("refused-not-found", .refused(.notFound)),
            ("refused-not-cgroup2", .refused(.notCgroup2)),
            ("refused-unseen-subtree", .refused(.unseenSubtree(CgroupPath("/a/b")!, errno: 13))),
            ("refused-own-unknown", .refused(.ownCgroupUnknown)),
            ("failed", .failed(HelperStepFailure(.writeKill, errno: 13))),
            ("failed-attribute", .failed(HelperStepFailure(.readAttribute, path: CgroupPath("/a")!, detail: "user.oomd_avoid", errno: 61))),
            ("checked", .checked(CheckReport(processes: 3, groups: 2, memoryCurrent: .max))),
            ("armed", .armed),
            ("attributes", .attributes(CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1", "trusted.oomd_prefer": "1"]))),
            ("error-malformed", .error(WireError(.malformed, "kill: no cgroup id", requestID: 9))),
            ("error-disabled", .error(WireError(.disabled, "test hooks are off", requestID: 10))),
        ]
        for (name, r) in replies { out.append(("reply-" + name, r.encoded(requestID: 7))) }
        out += [
            ("launcher-spawned", LauncherWire.encode(.init(result: .success(1234), previous: nil))),
            ("launcher-respawned", LauncherWire.encode(.init(result: .success(.max), previous: .signaled(31)))),
            ("launcher-failed", LauncherWire.encode(.init(result: .failure(.init(errno: 11)), previous: .exited(0)))),
            ("launcher-request", LauncherWire.spawnRequest),
        ]
        return out
    }

    static func write(to dir: String) -> Int32 {
        for (name, bytes) in messages {
            writeBytes(dir + "/" + name, bytes)
        }
        printLine("wrote \(messages.count) wire seeds to \(dir)")
        return 0
    }
}
