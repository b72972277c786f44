import Testing
@testable import CGWardenCore

@Suite struct HelperProtocolTests {
    let target = CgroupTarget(path: CgroupPath("/tenants.slice/a b.slice")!, id: 4242)

    @Test func requestsRoundTrip() throws {
        let requests = [
            HelperRequest(requestID: 1, action: .ping),
            HelperRequest.kill(target, id: 2, timeoutMillis: 10_000),
            HelperRequest.kill(target, id: 3, timeoutMillis: 1, forceFallback: true),
            HelperRequest.check(target, id: 4),
            HelperRequest.attributes(CgroupTarget(path: .root, id: 1), id: .max),
            HelperRequest(requestID: 9, action: .testForbiddenSyscall),
        ]
        for r in requests {
            #expect(try HelperRequest.decode(r.encoded()) == r)
        }
        #expect(HelperRequest.kill(target, id: 2, timeoutMillis: 5).path == Array("tenants.slice/a b.slice".utf8))
    }

    @Test func requestLayoutIsFixed() {
        let b = HelperRequest.kill(CgroupTarget(path: CgroupPath("/a")!, id: 0x0102030405060708), id: 0x0A0B0C0D,
                                   timeoutMillis: 1000, forceFallback: true).encoded()
        #expect(b == [1, 2, 1, 0, 0x0D, 0x0C, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1, 0xE8, 0x03, 0, 0, 1, 0, UInt8(ascii: "a")])
    }

    func decodeError(_ b: [UInt8]) -> WireError? {
        do {
            _ = try HelperRequest.decode(b)
            return nil
        } catch {
            return error
        }
    }

    @Test func garbageIsRejected() {
        #expect(decodeError([])?.kind == .truncated)
        #expect(decodeError([0xff])?.kind == .unsupportedVersion)
        #expect(decodeError(Array("GET / HTTP/1.1\r\n\r\n".utf8))?.kind == .unsupportedVersion)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0...64, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !b.isEmpty && Bool.random(using: &rng) { b[0] = 1 }   // get past the version byte now and then
            if let r = try? HelperRequest.decode(b) {
                // Whatever decodes is a valid request that encodes to the same bytes.
                #expect(r.encoded() == b)
            }
        }
    }

    @Test func truncatedAtEveryLength() {
        let full = HelperRequest.kill(target, id: 7, timeoutMillis: 100).encoded()
        for n in 0..<full.count {
            let e = decodeError(Array(full.prefix(n)))
            #expect(e?.kind == .truncated, "cut at \(n): \(String(describing: e))")
        }
        var longer = full
        longer.append(0)
        #expect(decodeError(longer)?.kind == .malformed)
    }

    @Test func oversizeRequest() {
        let path = String(repeating: "a/", count: 2100) + "b"
        let b = HelperRequest(requestID: 1, action: .check, path: Array(path.utf8), cgroupID: 1).encoded()
        #expect(b.count > HelperWire.maxRequestSize)
        #expect(decodeError(b)?.kind == .oversize)
        // A length field over PATH_MAX - 1, in a packet that fits, is malformed.
        var w = HelperRequest(requestID: 1, action: .check, path: Array("".utf8), cgroupID: 1).encoded()
        w.removeLast(2)
        w += [UInt8((HelperPath.maxLength + 1) & 0xff), UInt8((HelperPath.maxLength + 1) >> 8)] + [UInt8](repeating: 120, count: 100)
        #expect(decodeError(w)?.kind == .malformed)
    }

    @Test func unknownVersionAndAction() {
        var b = HelperRequest(requestID: 5, action: .ping).encoded()
        b[0] = 2
        #expect(decodeError(b)?.kind == .unsupportedVersion)
        b[0] = 1
        b[1] = 99
        let e = decodeError(b)
        #expect(e?.kind == .unknownAction)
        #expect(e?.requestID == 5)
    }

    @Test func fieldsMustFitTheAction() {
        func malformed(_ r: HelperRequest) -> Bool { decodeError(r.encoded())?.kind == .malformed }
        #expect(malformed(HelperRequest(requestID: 1, action: .kill, path: Array("a".utf8), cgroupID: 0, timeoutMillis: 10)))
        #expect(malformed(HelperRequest(requestID: 1, action: .kill, path: Array("a".utf8), cgroupID: 3, timeoutMillis: 0)))
        #expect(malformed(HelperRequest(requestID: 1, action: .kill, path: Array("a".utf8), cgroupID: 3, timeoutMillis: HelperWire.maxTimeoutMillis + 1)))
        #expect(malformed(HelperRequest(requestID: 1, action: .check, path: Array("a".utf8), cgroupID: 3, timeoutMillis: 10)))
        #expect(malformed(HelperRequest(requestID: 1, action: .check, path: Array("a".utf8), cgroupID: 3, forceFallback: true)))
        #expect(malformed(HelperRequest(requestID: 1, action: .ping, path: Array("a".utf8))))
        #expect(malformed(HelperRequest(requestID: 1, action: .ping, cgroupID: 3)))
        #expect(malformed(HelperRequest(requestID: 1, action: .attributes, path: Array("a\u{0}b".utf8), cgroupID: 3)))
        var flags = HelperRequest.kill(target, id: 1, timeoutMillis: 10).encoded()
        flags[2] = 2
        #expect(decodeError(flags)?.kind == .malformed)
        // A name is any bytes but NUL and '/': not UTF-8 is fine on the wire.
        var notUTF8 = HelperRequest(requestID: 1, action: .check, path: Array("ab".utf8), cgroupID: 3).encoded()
        notUTF8[notUTF8.count - 1] = 0xff
        #expect((try? HelperRequest.decode(notUTF8))?.path == [UInt8(ascii: "a"), 0xff])
    }

    /// A path of 4,095 bytes: 16 names of 255 bytes and their slashes.
    let longPath = CgroupPath(names: (0..<16).map { _ in CgroupName(String(repeating: "n", count: 255)) })

    @Test func repliesRoundTrip() throws {
        #expect(longPath.bytes.count == HelperPath.maxLength)
        let report = KillReport(method: .freezeAndSignal, fallbackReason: .forced, rounds: 3, signalled: 1000,
                                remaining: 0, durationNanos: 123_456_789, memoryBefore: 1 << 30, memoryAfter: nil)
        let replies: [HelperReply] = [
            .pong(HelperInfo(pid: 77, seccomp: true, rootIsCgroup2: true, testHooks: false,
                             own: .at(CgroupPath("/system.slice/cgwarden.service")!, id: 9))),
            .pong(HelperInfo(pid: 78, seccomp: true, rootIsCgroup2: false, testHooks: true, own: .outside)),
            .pong(HelperInfo(pid: 79, seccomp: false, rootIsCgroup2: true, testHooks: false, own: .at(.root, id: 1))),
            .pong(HelperInfo(pid: 80, seccomp: true, rootIsCgroup2: true, testHooks: false, own: .unknown)),
            .killed(KillReport(method: .cgroupKill, durationNanos: 5, memoryBefore: 4096, memoryAfter: 0)),
            .incomplete(report),
            .checked(CheckReport(processes: 21, groups: 3, memoryCurrent: nil)),
            .failed(HelperStepFailure(.writeKill, errno: 13)),
            .failed(HelperStepFailure(.readAttribute, detail: "user.oomd_avoid", errno: 61)),
            // A failure names its group whatever the length of its path.
            .failed(HelperStepFailure(.walkSubtree, path: longPath, errno: 40)),
            .attributes(CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1", "trusted.oomd_prefer": "yes"])),
            .attributes(CgroupAttributes(ownerUID: 0, values: [:])),
            .error(WireError(.oversize, "request of 9000 bytes", requestID: 31)),
        ]
        for r in replies {
            let d = try HelperReply.decode(r.encoded(requestID: 31))
            #expect(d.requestID == 31)
            #expect(d.reply == r)
        }
        let refusals: [HelperRefusal] = [
            .invalidPath(.dotDot), .root, .ownCgroup(CgroupPath("/a")!), .ancestorOfOwn(own: CgroupPath("/a/b")!),
            .protected(CgroupPath("/k/x")!, pattern: "/k/**"), .symlink, .crossesMount, .notFound, .notADirectory,
            .staleID(expected: 5, found: 6), .notCgroup2, .unseenSubtree(CgroupPath("/a/mnt")!, errno: 18),
            .ownCgroupUnknown, .ownCgroup(longPath), .protected(longPath, pattern: "/" + String(repeating: "p", count: 4000)),
            .protected(CgroupPath(names: [CgroupName(bytes: [0xff, 0x1b, 0x5b])]), pattern: "/\\xff*"),
        ]
        #expect(Set(refusals.map(\.code)) == Set(HelperRefusal.Code.allCases))
        for r in refusals {
            #expect(try HelperReply.decode(HelperReply.refused(r).encoded(requestID: 1)).reply == .refused(r))
        }
    }

    @Test func badRepliesAreRejected() {
        let good = HelperReply.killed(KillReport(method: .cgroupKill)).encoded(requestID: 1)
        for n in 0..<good.count {
            #expect(throws: WireError.self) { try HelperReply.decode(Array(good.prefix(n))) }
        }
        var kind = good
        kind[1] = 200
        #expect(throws: WireError.self) { try HelperReply.decode(kind) }
        var reason = good
        reason[9] = 1   // a fallback reason with method cgroup.kill
        #expect(throws: WireError.self) { try HelperReply.decode(reason) }
        // An attribute name outside the four the helper reads.
        var w = WireWriter()
        w.u8(1); w.u8(7); w.u16(0); w.u32(1); w.u32(0); w.u8(1); w.string("security.selinux", limit: 64); w.string("x", limit: 64)
        #expect(throws: WireError.self) { try HelperReply.decode(w.bytes) }
        #expect(throws: WireError.self) { try HelperReply.decode(HelperReply.refused(.root).encoded(requestID: 1) + [0]) }
    }

    @Test func launcherMessages() throws {
        #expect(LauncherWire.isSpawnRequest([1, 1]))
        #expect(!LauncherWire.isSpawnRequest([1, 1, 0]))
        #expect(!LauncherWire.isSpawnRequest([2, 1]))
        let replies = [
            LauncherWire.Reply(result: .success(1234), previous: nil),
            LauncherWire.Reply(result: .success(1235), previous: .signaled(31)),
            LauncherWire.Reply(result: .failure(.init(errno: 11)), previous: .exited(1)),
        ]
        for r in replies {
            let b = LauncherWire.encode(r)
            #expect(b.count == LauncherWire.replySize)
            #expect(try LauncherWire.decode(b) == r)
        }
        #expect(throws: WireError.self) { try LauncherWire.decode([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }   // pid 0
        #expect(throws: WireError.self) { try LauncherWire.decode([1, 0]) }
    }

    @Test func terminations() {
        #expect(HelperTermination(waitStatus: 0) == .exited(0))
        #expect(HelperTermination(waitStatus: 3 << 8) == .exited(3))
        #expect(HelperTermination(waitStatus: 31) == .signaled(31))
        #expect(HelperTermination(waitStatus: 0x80 | 9) == .signaled(9))
        #expect("\(HelperTermination.signaled(31))".contains("SIGSYS"))
    }
}

@Suite struct HelperPathTests {
    func parse(_ s: String) -> Result<CgroupPath, PathProblem> { HelperPath.parse(Array(s.utf8)) }

    @Test func validPaths() {
        #expect(parse("") == .success(.root))
        #expect(parse("a") == .success(CgroupPath("/a")!))
        #expect(parse("kubepods.slice/kubepods-pod1.slice/cri-containerd-x.scope")
                == .success(CgroupPath(components: ["kubepods.slice", "kubepods-pod1.slice", "cri-containerd-x.scope"])))
        #expect(parse("a b/..c/.d/ü") == .success(CgroupPath(components: ["a b", "..c", ".d", "ü"])))
        #expect(parse(String(repeating: "n", count: 255)) == .success(CgroupPath(components: [String(repeating: "n", count: 255)])))
    }

    @Test func escapesAndBadShapes() {
        #expect(parse("..") == .failure(.dotDot))
        #expect(parse("../etc") == .failure(.dotDot))
        #expect(parse("a/../../etc") == .failure(.dotDot))
        #expect(parse("a/..") == .failure(.dotDot))
        #expect(parse("/etc/passwd") == .failure(.absolute))
        #expect(parse("/") == .failure(.absolute))
        #expect(parse(".") == .failure(.dot))
        #expect(parse("a/./b") == .failure(.dot))
        #expect(parse("a//b") == .failure(.emptyComponent))
        #expect(parse("a/") == .failure(.emptyComponent))
        #expect(parse("a\u{0}b") == .failure(.nul))
        #expect(parse(String(repeating: "n", count: 256)) == .failure(.componentTooLong))
        #expect(parse(String(repeating: "a/", count: 2048)) == .failure(.tooLong))
    }

    @Test func operatorPaths() {
        #expect(CgroupPath.parse("/") == .success(.root))
        #expect(CgroupPath.parse("/a/b") == .success(CgroupPath(components: ["a", "b"])))
        #expect(CgroupPath.parse("a/b/") == .success(CgroupPath(components: ["a", "b"])))
        #expect(CgroupPath.parse("//etc") == .failure(.absolute))
        #expect(CgroupPath.parse("/a/../b") == .failure(.dotDot))
        #expect(CgroupPath.parse("/a//") == .failure(.emptyComponent))
        #expect(HelperPath.bytes(CgroupPath("/a/b")!) == Array("a/b".utf8))
        #expect(HelperPath.bytes(.root) == [])
    }
}

@Suite struct KillRulesTests {
    let own = CgroupPath("/system.slice/cgwarden.service")!
    func p(_ s: String) -> CgroupPath { CgroupPath(s)! }

    @Test func rootOwnAndAncestors() {
        let rules = KillRules(protected: [], own: .at(own, id: 50))
        #expect(rules.refusal(forTarget: .root) == .root)
        #expect(rules.refusal(forTarget: own) == .ownCgroup(own))
        #expect(rules.refusal(forTarget: p("/system.slice")) == .ancestorOfOwn(own: own))
        #expect(rules.refusal(forTarget: p("/system.slice/other.service")) == nil)
        #expect(rules.refusal(forTarget: p("/system.slice/cgwarden.service.d")) == nil)
        #expect(rules.refusal(forTarget: p("/tenants.slice")) == nil)
        // Below our own cgroup: not an ancestor, not us (a sub-cgroup cgwarden does not live in).
        #expect(rules.refusal(forTarget: p("/system.slice/cgwarden.service/child")) == nil)
        // cgwarden in the root cgroup: only the root is refused for that reason.
        let atRoot = KillRules(protected: [], own: .at(.root, id: 1))
        #expect(atRoot.refusal(forTarget: .root) == .root)
        #expect(atRoot.refusal(forTarget: p("/a")) == nil)
        #expect(KillRules(protected: [], own: .outside).refusal(forTarget: p("/a")) == nil)
    }

    @Test func protectedPatterns() {
        let rules = KillRules(protected: [CgroupPattern("/kubepods.slice/**/critical-*.scope"), CgroupPattern("/init.scope")],
                              own: .outside)
        #expect(rules.refusal(forTarget: p("/init.scope")) == .protected(p("/init.scope"), pattern: "/init.scope"))
        #expect(rules.refusal(forTarget: p("/kubepods.slice/a/critical-db.scope"))
                == .protected(p("/kubepods.slice/a/critical-db.scope"), pattern: "/kubepods.slice/**/critical-*.scope"))
        #expect(rules.refusal(forTarget: p("/kubepods.slice/a/web.scope")) == nil)
        #expect(rules.protection(of: p("/kubepods.slice/critical-x.scope")) != nil)
        #expect(rules.protection(of: p("/init.scope/child")) == nil)
    }

    @Test func staleness() {
        #expect(KillRules.staleness(expected: 7, found: 7) == nil)
        #expect(KillRules.staleness(expected: 7, found: 8) == .staleID(expected: 7, found: 8))
    }

    @Test func refusalsReadWell() {
        #expect("\(HelperRefusal.invalidPath(.dotDot))".contains("'..'"))
        #expect("\(HelperRefusal.ancestorOfOwn(own: own))".contains(own.description))
        #expect("\(HelperRefusal.protected(p("/a"), pattern: "/a"))" == "/a is protected (/a)")
    }
}
