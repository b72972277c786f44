import Testing
@testable import CGWardenCore

@Suite struct ExpositionTests {
    func escaped(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        LabelSet.escape(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func labelValuesAreEscapedAsTheFormatSays() {
        #expect(escaped(Array(#"a\b"c"#.utf8)) == #"a\\b\"c"#)
        #expect(escaped(Array("a\nb".utf8)) == #"a\nb"#)
        // Control bytes, DEL and C1 controls: \xNN (the backslash escaped).
        #expect(escaped([0x61, 0x1B, 0x5B, 0x7F]) == #"a\\x1b[\\x7f"#)
        #expect(escaped([0xC2, 0x85]) == #"\\xc2\\x85"#)
        // Well-formed UTF-8 is kept.
        #expect(escaped(Array("dépôt-日本-🙂".utf8)) == "dépôt-日本-🙂")
    }

    @Test(arguments: [
        [0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80],
    ] as [[UInt8]])
    func bytesThatAreNotUTF8BecomeHexEscapes(bytes: [UInt8]) {
        let text = escaped([0x61] + bytes + [0x62])
        let expected = "a" + bytes.map { #"\\x"# + (($0 < 16 ? "0" : "") + String($0, radix: 16)) }.joined() + "b"
        #expect(text == expected)
        // Whatever came in, what goes out is valid UTF-8 with no raw quote or newline.
        #expect(!text.utf8.contains(0x0A))
    }

    @Test func samplesAndFamilies() {
        var e = Exposition()
        e.family("x_total", .counter, help: "A \\ help\nline.")
        e.sample("x_total", LabelSet([("guard", "a\"b"), ("unit", nil), ("empty", "")]), UInt64.max)
        e.sample("x_total", 0.25)
        e.sample("y", .infinity)
        e.sample("y", -.infinity)
        e.sample("y", .nan)
        e.sample("y", 3.0)
        e.sample("y", 1e-5)
        e.sample("y", 1e300)
        #expect(String(decoding: e.bytes, as: UTF8.self) == """
            # HELP x_total A \\\\ help\\nline.
            # TYPE x_total counter
            x_total{guard="a\\"b"} 18446744073709551615
            x_total 0.25
            y +Inf
            y -Inf
            y NaN
            y 3
            y 1e-05
            y 1e+300

            """)
    }

    @Test func histogramsAreCumulative() {
        var e = Exposition()
        e.histogram("h", LabelSet([("guard", "g")]), bounds: [0.1, 1], counts: [2, 3, 4], sum: 12.5)
        #expect(String(decoding: e.bytes, as: UTF8.self) == """
            h_bucket{guard="g",le="0.1"} 2
            h_bucket{guard="g",le="1"} 5
            h_bucket{guard="g",le="+Inf"} 9
            h_sum{guard="g"} 12.5
            h_count{guard="g"} 9

            """)
    }

    @Test func names() {
        #expect(Exposition.isValidName("cgwarden_kills_total"))
        #expect(Exposition.isValidName("a:b_1"))
        #expect(!Exposition.isValidName("a:b", label: true))
        #expect(!Exposition.isValidName("1a"))
        #expect(!Exposition.isValidName(""))
        #expect(!Exposition.isValidName("a-b"))
    }
}
