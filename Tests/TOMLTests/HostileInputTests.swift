import Testing
import TOML

/// Input built to hurt the parser: deep nesting, keys of many parts, very long lines. Each must
/// end in a `TOMLError` naming line:column or a correct table, without overflowing the stack or
/// taking super-linear time.
@Suite struct HostileInputTests {
    static let limit = 128  // Parser.maxNesting
    static let tooDeep = "nesting too deep: more than 128 tables and arrays inside one another"

    /// In CPU time of the thread. Generous: each input below parses in about 0.3 s or less in a debug build on a loaded
    /// 2-core machine. The quadratic steps this guards against cost far more at these sizes
    /// (debug build, before the fix: a dotted key of 3,000 parts 5 s, of 10,000 parts 13 s;
    /// 20,000 entries on one line 245 s).
    static let timeBound = Duration.seconds(2)

    func outcome(_ text: String) -> String {
        do {
            _ = try parseTOML(text, file: "x.toml")
            return "no error"
        } catch {
            return error.description
        }
    }

    /// The outcome and the time it took.
    func timed(_ text: String) -> (String, Duration) {
        var result = ""
        let elapsed = threadCPUTime { result = outcome(text) }
        return (result, elapsed)
    }

    func repeated(_ piece: String, _ count: Int) -> String { String(repeating: piece, count: count) }

    // MARK: Nesting

    // The column of each error shows where the parser stopped: at the first level too many, not
    // at the end of the input (a key of 100,000 parts is rejected after reading 130 of them).
    @Test func arraysNested30000Deep() {
        let text = "a = " + repeated("[", 30_000) + repeated("]", 30_000)
        let (result, elapsed) = timed(text)
        #expect(result == "x.toml:1:\(5 + HostileInputTests.limit): " + HostileInputTests.tooDeep)
        #expect(elapsed < HostileInputTests.timeBound)
    }

    @Test func inlineTablesNested20000Deep() {
        let text = "a = " + repeated("{b = ", 20_000) + "1" + repeated("}", 20_000)
        let (result, elapsed) = timed(text)
        #expect(result == "x.toml:1:\(5 + 5 * HostileInputTests.limit): " + HostileInputTests.tooDeep)
        #expect(elapsed < HostileInputTests.timeBound)
    }

    @Test func headerOf100000Parts() {
        let (table, tableTime) = timed("[" + repeated("a.", 99_999) + "a]\nx = 1\n")
        #expect(table == "x.toml:1:\(2 + 2 * HostileInputTests.limit): " + HostileInputTests.tooDeep)
        #expect(tableTime < HostileInputTests.timeBound)
        let (array, arrayTime) = timed("[[" + repeated("a.", 99_999) + "a]]\n")
        #expect(array == "x.toml:1:\(3 + 2 * HostileInputTests.limit): " + HostileInputTests.tooDeep)
        #expect(arrayTime < HostileInputTests.timeBound)
    }

    @Test(arguments: [10_000, 100_000])
    func dottedKeyOfManyParts(parts: Int) {
        // The root holds 129 parts: 128 tables and the key of the value.
        let (result, elapsed) = timed(repeated("a.", parts - 1) + "a = 1\n")
        #expect(result == "x.toml:1:\(1 + 2 * (HostileInputTests.limit + 1)): " + HostileInputTests.tooDeep)
        #expect(elapsed < HostileInputTests.timeBound)
    }

    @Test func theLimitItselfIsAccepted() throws {
        let limit = HostileInputTests.limit
        // 128 arrays, 128 inline tables, a header of 128 parts, a dotted key opening 128 tables.
        let arrays = try parseTOML("a = " + repeated("[", limit) + repeated("]", limit), file: "x.toml")
        var node = try #require(arrays["a"])
        var depth = 0
        while let inner = node.value.arrayValue {
            depth += 1
            guard let next = inner.first else { break }
            node = next
        }
        #expect(depth == limit)
        #expect(outcome("a = " + repeated("[", limit + 1) + repeated("]", limit + 1))
            == "x.toml:1:\(5 + limit): " + HostileInputTests.tooDeep)

        let inline = try parseTOML("a = " + repeated("{b = ", limit - 1) + "{}" + repeated("}", limit - 1), file: "x.toml")
        var table = try #require(inline["a"])
        depth = 1
        while let next = table["b"] {
            depth += 1
            table = next
        }
        #expect(depth == limit)

        #expect(outcome("[" + repeated("a.", limit - 1) + "a]\nx = 1") == "no error")
        #expect(outcome(repeated("a.", limit) + "a = 1") == "no error")
        // An array of tables is two levels: the array and its table.
        #expect(outcome("[[" + repeated("a.", limit - 2) + "a]]") == "no error")
        #expect(outcome("[[" + repeated("a.", limit - 1) + "a]]") == "x.toml:1:\(3 + 2 * (limit - 1)): " + HostileInputTests.tooDeep)
    }

    @Test func levelsAddUpAcrossHeadersKeysAndValues() {
        // [64 parts] then a key of 65 parts opens tables 65...128: accepted; one more part is not.
        let header = "[" + repeated("h.", 63) + "h]\n"
        #expect(outcome(header + repeated("k.", 64) + "k = 1") == "no error")
        #expect(outcome(header + repeated("k.", 65) + "k = 1") == "x.toml:2:\(1 + 2 * 65): " + HostileInputTests.tooDeep)
        // A key of 64 parts puts its value at level 128: a scalar or an empty array fits, a nested one does not.
        #expect(outcome(header + repeated("k.", 63) + "k = []") == "no error")
        #expect(outcome(header + repeated("k.", 63) + "k = [[]]") == "x.toml:2:\(2 * 64 + 4): " + HostileInputTests.tooDeep)
        // An array of tables is two levels (the array and its table): 64 nested ones reach 128.
        let nested = (1...64).map { "[[" + repeated("a.", $0 - 1) + "a]]\n" }.joined()
        #expect(outcome(nested) == "no error")
        #expect(outcome(nested + "[[" + repeated("a.", 64) + "a]]") == "x.toml:65:\(3 + 2 * 64): " + HostileInputTests.tooDeep)
    }

    // MARK: Long lines and many keys (linear time)

    @Test func oneLineInlineTableOf10000Keys() throws {
        // Every key and value asks for its column, up to 150 KB along the line.
        let body = (0..<10_000).map { "k\($0) = \($0)" }.joined(separator: ", ")
        var table: TOMLTable?
        let elapsed = try threadCPUTime { table = try parseTOML("t = {" + body + "}", file: "x.toml") }
        let inline = try #require(table?["t"]?.value.tableValue)
        #expect(inline.count == 10_000)
        // Columns stay exact far along one line.
        let lastKey = "k9999"
        let offset = 5 + body.utf8.count - "\(lastKey) = 9999".utf8.count
        #expect(inline.entry(lastKey)?.keyLocation == TOMLLocation(line: 1, column: offset + 1))
        #expect(elapsed < HostileInputTests.timeBound)
    }

    @Test func manyDottedKeysSharingADeepPrefix() throws {
        // 1,000 keys of 100 parts each: each key walks 99 existing tables (linear in the input).
        let prefix = repeated("p.", 99)
        let text = (0..<1_000).map { "\(prefix)k\($0) = \($0)" }.joined(separator: "\n")
        var table: TOMLTable?
        let elapsed = try threadCPUTime { table = try parseTOML(text, file: "x.toml") }
        var node = try #require(table?["p"])
        for _ in 0..<98 { node = try #require(node["p"]) }
        #expect(node.value.tableValue?.count == 1_000)
        #expect(elapsed < HostileInputTests.timeBound)
    }

    @Test func longValuesAndManyLines() {
        let strings = "a = [" + repeated("\"xy\", ", 50_000) + "]"
        let (arrayResult, arrayTime) = timed(strings)
        #expect(arrayResult == "no error")
        #expect(arrayTime < HostileInputTests.timeBound)

        let lines = (0..<10_000).map { "k\($0) = \($0)" }.joined(separator: "\n") + "\nk0 = 1"
        let (linesResult, linesTime) = timed(lines)
        #expect(linesResult == "x.toml:10001:1: duplicate key 'k0' (first defined at line 1)")
        #expect(linesTime < HostileInputTests.timeBound)

        let escapes = "s = \"" + repeated("\\u00e9\\n", 50_000) + "\""
        let (escapeResult, escapeTime) = timed(escapes)
        #expect(escapeResult == "no error")
        #expect(escapeTime < HostileInputTests.timeBound)

        let digits = "f = 0." + repeated("1", 200_000)
        let (floatResult, floatTime) = timed(digits)
        #expect(floatResult == "no error")
        #expect(floatTime < HostileInputTests.timeBound)

        let integer = "i = " + repeated("9", 200_000)
        let (integerResult, integerTime) = timed(integer)
        #expect(integerResult.hasPrefix("x.toml:1:5: integer '999"))
        #expect(integerResult.hasSuffix("' overflows 64 bits"))
        #expect(integerTime < HostileInputTests.timeBound)
    }

    @Test func anErrorFarAlongALongLineNamesItsColumn() {
        let text = "a = [" + repeated("1, ", 50_000) + "x]"
        #expect(outcome(text) == "x.toml:1:\(6 + 3 * 50_000): invalid value 'x' (strings must be quoted)")
        // Multi-byte scalars count once.
        let wide = "s = \"" + repeated("é", 1_000) + "\" x"
        #expect(outcome(wide) == "x.toml:1:\(5 + 1_002 + 1): expected end of line after value of key 's', found 'x'")
    }
}
