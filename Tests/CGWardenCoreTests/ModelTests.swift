import Testing
@testable import CGWardenCore

@Suite struct CgroupPathTests {
    @Test func parsesAndPrints() throws {
        #expect(CgroupPath("/")?.isRoot == true)
        #expect(CgroupPath("")?.isRoot == true)
        let p = try #require(CgroupPath("/tenants.slice/a b.slice/"))
        #expect(p.names == [CgroupName("tenants.slice"), CgroupName("a b.slice")])
        #expect(p.description == "/tenants.slice/a b.slice")
        #expect(p.bytes == Array("tenants.slice/a b.slice".utf8))
        #expect(p.parent == CgroupPath("/tenants.slice"))
        #expect(CgroupPath("tenants.slice") == CgroupPath("/tenants.slice"))
    }

    @Test(arguments: ["/a/../b", "..", "/a/./b", "a//b", "/a/\u{0}b"])
    func rejectsEscapes(_ s: String) {
        #expect(CgroupPath(s) == nil)
    }

    @Test func ordersParentsFirstAndSiblingsByName() {
        let paths = ["/b", "/a.slice", "/a", "/a/z", "/a b", "/"].map { CgroupPath($0)! }
        #expect(paths.sorted().map(\.description) == ["/", "/a", "/a/z", "/a b", "/a.slice", "/b"])
    }

    @Test func within() {
        #expect(CgroupPath("/a/b")!.isWithin(CgroupPath("/a")!))
        #expect(CgroupPath("/a")!.isWithin(CgroupPath("/a")!))
        #expect(!CgroupPath("/ab")!.isWithin(CgroupPath("/a")!))
        #expect(CgroupPath("/x")!.isWithin(.root))
    }
}

@Suite struct IdentityTests {
    let uid = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    let uidSystemd = "0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b"
    let ctr = "3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

    func identity(_ p: String) -> GroupIdentity { GroupIdentity(path: CgroupPath(p)!) }

    @Test func systemdUnits() {
        #expect(identity("/system.slice/nginx.service").unit == "nginx.service")
        #expect(identity("/user.slice/user-1000.slice/session-3.scope").unit == "session-3.scope")
        #expect(identity("/tenants.slice").unit == "tenants.slice")
        #expect(identity("/tenants").unit == nil)
        #expect(identity("/.slice").unit == nil)
        #expect(identity("/").unit == nil)
    }

    @Test func systemdDriverBurstablePodAndContainer() {
        let base = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidSystemd).slice"
        #expect(identity("/kubepods.slice").kubernetes == KubernetesIdentity(level: .node))
        #expect(identity("/kubepods.slice/kubepods-burstable.slice").kubernetes == KubernetesIdentity(level: .qos, qos: .burstable))
        #expect(identity(base).kubernetes == KubernetesIdentity(level: .pod, qos: .burstable, podUID: uid))
        #expect(identity(base + "/cri-containerd-\(ctr).scope").kubernetes
                == KubernetesIdentity(level: .container, qos: .burstable, podUID: uid, containerID: ctr, runtime: "containerd"))
        #expect(identity(base + "/crio-\(ctr).scope").kubernetes?.runtime == "crio")
    }

    @Test func systemdDriverGuaranteedAndBestEffort() {
        #expect(identity("/kubepods.slice/kubepods-pod\(uidSystemd).slice").kubernetes
                == KubernetesIdentity(level: .pod, qos: .guaranteed, podUID: uid))
        let be = identity("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidSystemd).slice/docker-\(ctr).scope")
        #expect(be.kubernetes == KubernetesIdentity(level: .container, qos: .besteffort, podUID: uid, containerID: ctr, runtime: "docker"))
        #expect(be.unit == "docker-\(ctr).scope")
    }

    @Test func cgroupfsDriver() {
        #expect(identity("/kubepods").kubernetes == KubernetesIdentity(level: .node))
        #expect(identity("/kubepods/besteffort").kubernetes == KubernetesIdentity(level: .qos, qos: .besteffort))
        #expect(identity("/kubepods/burstable/pod\(uid)").kubernetes == KubernetesIdentity(level: .pod, qos: .burstable, podUID: uid))
        #expect(identity("/kubepods/pod\(uid)/\(ctr)").kubernetes
                == KubernetesIdentity(level: .container, qos: .guaranteed, podUID: uid, containerID: ctr))
    }

    @Test func notKubernetes() {
        #expect(identity("/system.slice/kubelet.service").kubernetes == nil)
        #expect(identity("/kubepods.slice/random.slice").kubernetes == nil)
        #expect(identity("/kubepods.slice/kubepods-podXYZ.slice").kubernetes == nil)
        #expect(identity("/kubepods/burstable/notapod").kubernetes == nil)
    }
}

@Suite struct UnitsTests {
    @Test(arguments: [
        (UInt64(0), "0"), (512, "512B"), (1023, "1023B"), (1024, "1.0K"), (1536, "1.5K"),
        (512 << 20, "512.0M"), (3 << 29, "1.5G"), (1_073_741_823, "1.0G"), (UInt64.max, "16.0E"),
        (1_048_575, "1.0M"), (64 << 20, "64.0M"),
    ])
    func sizes(bytes: UInt64, text: String) {
        #expect(Units.size(bytes) == text)
        #expect(Units.size(bytes).count <= 7)
    }

    @Test func percentAndDecimals() {
        #expect(Units.percent(0.594) == "59%")
        #expect(Units.percent(1.0) == "100%")
        #expect(Units.percent(20) == ">10x")
        #expect(Units.decimal(1.59, decimals: 2) == "1.59")
        #expect(Units.decimal(0, decimals: 2) == "0.00")
        #expect(Units.decimal(0.05, decimals: 2) == "0.05")
        #expect(Units.decimal(100, decimals: 2) == "100.00")
        #expect(Units.limit(.max) == "max")
        #expect(Units.limit(nil) == "-")
    }
}

@Suite struct JSONTests {
    @Test func writesInOrderAndEscapes() {
        let j = JSON.object([("b", .uint(UInt64.max)), ("a", .array([.null, .bool(true), .double(1.59), .int(-3)])),
                             ("s", .string("a\"b\\c\n\u{1}é"))])
        #expect(j.serialized() == #"{"b":18446744073709551615,"a":[null,true,1.59,-3],"s":"a\"b\\c\n\u0001é"}"#)
    }

    @Test func roundTrips() throws {
        let j = JSON.object([("path", .string("/a b/ü")), ("n", .uint(UInt64.max)), ("f", .double(0.25)),
                             ("nested", .object([("x", .array([]))])), ("z", .object([]))])
        #expect(try JSON.parse(j.serialized()) == j)
        #expect(try JSON.parse(j.serialized(pretty: true)) == j)
    }

    @Test func parsesEscapesAndSurrogates() throws {
        #expect(try JSON.parse(#""\ud83d\ude00 \u00e9\/""#) == .string("😀 é/"))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"abc", "\"\\ud800\"", "tru", "[1] 2", "{\"a\":1,}", "-"])
    func rejectsBadDocuments(_ text: String) {
        #expect(throws: JSONError.self) { try JSON.parse(text) }
    }

    @Test func errorsHaveLineAndColumn() {
        #expect(throws: JSONError(line: 2, column: 3, message: "expected ',' or '}'")) {
            try JSON.parse("{\"a\": 1\n  \"b\": 2}")
        }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try JSON.parse(deep) }
    }
}

@Suite struct MemoryStateTests {
    @Test func fractionOfMaxNeedsANumber() {
        #expect(MemoryState(current: 50, max: .bytes(200)).fractionOfMax == 0.25)
        #expect(MemoryState(current: 50, max: .max).fractionOfMax == nil)
        #expect(MemoryState(current: 50, max: .bytes(0)).fractionOfMax == nil)
        #expect(MemoryState(max: .bytes(100)).fractionOfMax == nil)
    }

    @Test func unreclaimableExcludesFileCache() throws {
        let stat = try Parse.memoryStat("anon 100\nfile 5000\nshmem 10\nkernel 7\n")
        #expect(MemoryState(stat: stat).unreclaimable == 117)
        let old = try Parse.memoryStat("anon 100\nfile 5000\nshmem 10\nkernel_stack 1\npagetables 2\nslab_unreclaimable 3\n")
        #expect(MemoryState(stat: old).unreclaimable == 116)
        #expect(MemoryState().unreclaimable == nil)
    }
}

@Suite struct TimeFormatTests {
    @Test func isoTime() {
        #expect(Units.isoTime(wallNanos: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Units.isoTime(wallNanos: 951_782_400_000_000_000) == "2000-02-29T00:00:00.000Z")
        #expect(Units.isoTime(wallNanos: 1_795_747_813_250_000_000) == "2026-11-27T02:50:13.250Z")
    }
}
