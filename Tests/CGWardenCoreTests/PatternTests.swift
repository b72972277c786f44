import Testing
@testable import CGWardenCore

@Suite struct CgroupPatternTests {
    func m(_ pattern: String, _ path: String) -> Bool {
        CgroupPattern(pattern).matches(CgroupPath(path)!)
    }

    @Test func literalAndRoot() {
        #expect(m("/", "/"))
        #expect(!m("/", "/a"))
        #expect(m("/tenants.slice", "/tenants.slice"))
        #expect(m("/tenants.slice/", "/tenants.slice"))
        #expect(!m("/tenants.slice", "/tenants.slice/a"))
    }

    @Test func starStaysWithinALevel() {
        #expect(m("/tenants.slice/*", "/tenants.slice/a.slice"))
        #expect(!m("/tenants.slice/*", "/tenants.slice"))
        #expect(!m("/tenants.slice/*", "/tenants.slice/a.slice/b"))
        #expect(m("/system.slice/*.service", "/system.slice/nginx.service"))
        #expect(!m("/system.slice/*.service", "/system.slice/nginx.socket"))
        #expect(m("/kubepods.slice/kubepods-*-pod*.slice", "/kubepods.slice/kubepods-burstable-pod12_34.slice"))
        #expect(m("/a/?.slice", "/a/b.slice"))
        #expect(!m("/a/?.slice", "/a/bb.slice"))
        #expect(m("/a/*b*c", "/a/xxbyyc"))
        #expect(!m("/a/*b*c", "/a/xxbyy"))
    }

    @Test func starStarSpansLevels() {
        #expect(m("/kubepods.slice/**", "/kubepods.slice"))
        #expect(m("/kubepods.slice/**", "/kubepods.slice/a/b/c"))
        #expect(!m("/kubepods.slice/**", "/other"))
        #expect(m("/**/session-*.scope", "/user.slice/user-1000.slice/session-3.scope"))
        #expect(m("/**/session-*.scope", "/session-1.scope"))
        #expect(m("/**", "/"))
        #expect(m("/a/**/z", "/a/z"))
        #expect(m("/a/**/z", "/a/b/c/z"))
        #expect(!m("/a/**/z", "/a/b/c/y"))
        #expect(m("/a/**/**/z", "/a/z"))
    }

    @Test(arguments: [
        ("", CgroupPattern.Problem.empty),
        ("tenants.slice/*", .notAbsolute),
        ("/a//b", .emptyComponent),
        ("/a/../b", .dotComponent("..")),
        ("/a/./b", .dotComponent(".")),
        ("/a/x**", .starStarInsideComponent("x**")),
    ])
    func neverMatchingPatternsAreRejected(text: String, problem: CgroupPattern.Problem) {
        guard case .failure(let p) = CgroupPattern.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(p == problem)
    }
}

@Suite struct PatternUnicodeTests {
    @Test func questionMarkIsOneCharacter() {
        #expect(CgroupPattern("/a/?.slice").matches(CgroupPath("/a/ü.slice")!))
        #expect(!CgroupPattern("/a/??.slice").matches(CgroupPath("/a/ü.slice")!))
        #expect(CgroupPattern("/a/*ü*").matches(CgroupPath("/a/xxüyy")!))
        #expect(CgroupPattern("/a/ünï*").matches(CgroupPath("/a/ünïcödé")!))
    }
}

@Suite struct PatternLevelTests {
    /// `matches` splits the path on the stack; the same answer as matching
    /// the levels split into arrays.
    @Test func matchesAsOverSplitLevels() throws {
        let patterns = ["/**", "/a", "/a/*", "/a/**", "/**/b", "/a/**/c", "/?/b*", "/a.slice/**/x?z", "/*/*"]
        let paths = ["/", "/a", "/a/b", "/a/b/c", "/b", "/a.slice/q/xyz", "/a/b/b", "/x/y", "/a/c/c", "/é/b"]
        for p in patterns {
            let pattern = try CgroupPattern.parse(p).get()
            for text in paths {
                let path = try #require(CgroupPath(text))
                let names = path.isRoot ? [] : path.bytes.split(separator: CgroupPath.slash, omittingEmptySubsequences: false)
                #expect(pattern.matches(path) == CgroupPattern.match(pattern.components[...], names[...]), "\(p) \(text)")
            }
        }
    }
}
