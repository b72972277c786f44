import Testing
@testable import CGWardenCore

/// Hostile names, family "names": any byte string the kernel accepts is read,
/// matched, protected and shown byte-exact (Docs/security.md counts these).
@Suite struct NameBytesTests {
    func name(_ b: [UInt8]) -> CgroupName { CgroupName(bytes: b) }
    func path(_ names: [[UInt8]]) -> CgroupPath { CgroupPath(names: names.map(name)) }

    /// Names that broke String-based handling, and their escaped forms.
    static let hostile: [([UInt8], String)] = [
        ([0xff, 0xfe], "\\xff\\xfe"),                                  // not UTF-8
        ([0xc3], "\\xc3"),                                              // a truncated sequence
        (Array("e\u{301}".utf8), "e\u{301}"),                          // a mark after a letter: shown
        (Array("\u{301}x".utf8), "\\xcc\\x81x"),                       // a mark first would join the '/'
        (Array("\u{200d}x".utf8), "\\xe2\\x80\\x8dx"),                 // zero-width joiner
        (Array("a\u{202e}b".utf8), "a\\xe2\\x80\\xaeb"),               // right-to-left override
        ([0x1b] + Array("[31mred".utf8), "\\x1b[31mred"),              // a terminal escape sequence
        (Array("tab\there".utf8), "tab\\x09here"),
        (Array("new\nline".utf8), "new\\x0aline"),
        (Array("back\\slash".utf8), "back\\\\slash"),
        (Array("\\x41".utf8), "\\\\x41"),                              // looks like an escape: is not one
        (Array("no\u{a0}break".utf8), "no\\xc2\\xa0break"),            // a space that is not U+0020
        (Array("ünïcödé.slice".utf8), "ünïcödé.slice"),
        ([0xc0, 0xaf], "\\xc0\\xaf"),                                   // overlong '/'
        ([0xed, 0xa0, 0x80], "\\xed\\xa0\\x80"),                        // a surrogate
        (Array("with space".utf8), "with space"),
    ]

    @Test func hostileNamesAreShownEscapedAndReadBack() throws {
        for (bytes, shown) in Self.hostile {
            let p = path([Array("t".utf8), bytes])
            #expect(p.description == "/t/" + shown, "\(bytes)")
            // Nothing a terminal acts on survives in the text.
            #expect(!p.description.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7f && $0.value < 0xa0) })
            #expect(CgroupPath.parse(p.description) == .success(p), "\(shown)")
        }
    }

    @Test func everyByteStringRoundTrips() {
        // A seeded generator: names of random bytes (no '/', no NUL), escaped and read back.
        var rng = SeededGenerator(seed: 0x5eed)
        var tried = 0
        for _ in 0..<3000 {
            let n = Int.random(in: 1...12, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 1...255, using: &rng) }.map { $0 == 0x2f ? 0x2e : $0 }
            guard bytes != [0x2e], bytes != [0x2e, 0x2e] else { continue }
            let p = path([bytes, Array("x".utf8)])
            #expect(CgroupPath.parse(p.description) == .success(p), "\(bytes)")
            tried += 1
        }
        #expect(tried > 2900)
    }

    @Test func namesCompareAsBytesNotCharacters() {
        // Canonically equivalent as Swift strings, different names to the kernel.
        let composed = path([Array("caf\u{e9}".utf8)]), decomposed = path([Array("cafe\u{301}".utf8)])
        #expect("caf\u{e9}" == "cafe\u{301}")
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        // A name that starts with a combining mark is still below its parent.
        let parent = path([Array("tenants.slice".utf8)])
        let child = parent.appending(name(Array("\u{301}evil".utf8)))
        #expect(child.isWithin(parent))
        #expect(child.parent == parent)
        #expect(child.depth == 2)
        #expect(!path([Array("tenants.slice\u{301}".utf8)]).isWithin(parent))
    }

    @Test func escapesThatNameNothingAreRejected() {
        for bad in ["/a/\\q", "/a/\\x4", "/a/\\x", "/a/\\", "/a/\\x2f", "/a/\\x00", "/\\x2e\\x2e/etc", "/a/\\x2e"] {
            #expect(CgroupPath(bad) == nil, "\(bad)")
        }
        #expect(CgroupPath.parse("/a/\\x2f") == .failure(.badEscape))
        #expect(CgroupPath.parse("/\\x2e\\x2e/etc") == .failure(.dotDot))
        #expect(CgroupPath.parse("/a/\\x00") == .failure(.nul))
    }

    @Test func patternsMatchBytes() {
        let nonUTF8 = path([Array("t".utf8), [0xff, 0x41]])
        #expect(CgroupPattern("/t/\\xff*").matches(nonUTF8))
        #expect(CgroupPattern("/t/*").matches(nonUTF8))
        #expect(CgroupPattern("/t/?A").matches(nonUTF8))
        #expect(!CgroupPattern("/t/\\xfe*").matches(nonUTF8))
        let marked = path([Array("t".utf8), Array("\u{301}x".utf8)])
        #expect(CgroupPattern("/t/*").matches(marked))
        #expect(CgroupPattern("/t/**").matches(marked))
        #expect(CgroupPattern("/t/\\xcc\\x81x").matches(marked))
        #expect(CgroupPattern("/t/\\xcc\\x81x").literalPath == marked)
        // A literal star and question mark.
        #expect(CgroupPattern("/t/a\\*").matches(path([Array("t".utf8), Array("a*".utf8)])))
        #expect(!CgroupPattern("/t/a\\*").matches(path([Array("t".utf8), Array("ab".utf8)])))
        #expect(CgroupPattern.parse("/t/\\q") == .failure(.badEscape("\\q")))
        #expect(CgroupPattern.parse("/t/\\x2f") == .failure(.badEscape("\\x2f")))
        #expect(CgroupPattern.parse("/t/\\x2e\\x2e") == .failure(.dotComponent("\\x2e\\x2e")))
    }

    @Test func kernelPathsAreBytes() throws {
        // /proc/PID/cgroup prints the path's bytes as they are.
        let raw: [UInt8] = Array("0::/t/".utf8) + [0xff] + Array("\u{301}x\n".utf8)
        let p = try raw.withUnsafeBufferPointer { b in try Parse.procCgroup(b) }
        #expect(p == path([Array("t".utf8), [0xff] + Array("\u{301}x".utf8)]))
        let hybrid = "12:memory:/user.slice\n0::/system.slice/a.service\n"
        #expect(try Parse.procCgroup(hybrid) == CgroupPath("/system.slice/a.service"))
        #expect(try Parse.procCgroup("0::/\n") == .root)
        #expect(throws: ParseError.self) { try Parse.procCgroup("0::/../outside\n") }
    }

    @Test func identityIgnoresLookalikes() {
        // Full-width digits and a marked suffix are not Kubernetes or systemd names.
        #expect(GroupIdentity(path: CgroupPath("/kubepods.slice/kubepods-pod\u{ff10}\u{ff11}.slice")!).kubernetes == nil)
        #expect(GroupIdentity(path: CgroupPath("/a.slice\u{301}")!).unit == nil)
        #expect(GroupIdentity(path: path([[0xff] + Array(".service".utf8)])).unit == nil)
        #expect(GroupIdentity(path: CgroupPath("/nginx.service")!).unit == "nginx.service")
    }
}

/// xorshift64*: the same sequence on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 1 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2685821657736338717
    }
}
