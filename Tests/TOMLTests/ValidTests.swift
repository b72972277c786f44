import Testing
import TOML

func parse(_ text: String) throws(TOMLError) -> TOMLTable { try parseTOML(text, file: "x.toml") }
func at(_ line: Int, _ column: Int) -> TOMLLocation { TOMLLocation(line: line, column: column) }
/// Parses `key = <literal>` and returns the value of `key`.
func value(_ literal: String) throws -> TOMLValue { try #require(try parse("key = \(literal)")["key"]).value }

@Test(arguments: ["", "\n\n", "# just a comment\n", "  \t \r\n# c\r\n", "\u{FEFF}"])
func emptyDocuments(text: String) throws {
    #expect(try parse(text).isEmpty)
}

@Test func keys() throws {
    let t = try parse("""
        bare_key-1 = 1
        "quoted key" = 2
        'literal "key"' = 3
        "" = 4
        1234 = 5
        a . b."c.d" = 6
        3.14159 = "pi"
        "ʎǝʞ" = 7
        """)
    #expect(t.keys == ["bare_key-1", "quoted key", "literal \"key\"", "", "1234", "a", "3", "ʎǝʞ"])
    #expect(t["quoted key"] == TOMLNode(value: .integer(2), location: at(2, 16)))
    #expect(t[""]?.value == .integer(4))
    let a = try #require(t.entry("a"))
    #expect(a.keyLocation == at(6, 1))
    #expect(a.node.location == at(6, 1))  // a table created by a dotted key sits at that key
    #expect(a.node["b"]?.location == at(6, 5))
    #expect(a.node["b"]?["c.d"] == TOMLNode(value: .integer(6), location: at(6, 15)))
    #expect(a.node.value.tableValue?.entry("b")?.node.value.tableValue?.entry("c.d")?.keyLocation == at(6, 7))
    #expect(t["3"]?["14159"]?.value == .string("pi"))
    #expect(t.entry("ʎǝʞ")?.node.location == at(8, 9))  // columns count scalars, not bytes
}

@Test func basicStrings() throws {
    #expect(try value(#""tab\there \"q\" back\\slash \b\f\n\r""#) == .string("tab\there \"q\" back\\slash \u{8}\u{C}\n\r"))
    #expect(try value(#""\u00E9 \U0001F600 \u0000""#) == .string("é 😀 \u{0}"))
    #expect(try value(#""""#) == .string(""))
    #expect(try value("\"with # hash and\ttab\"") == .string("with # hash and\ttab"))
}

@Test func literalStrings() throws {
    #expect(try value(#"'C:\Users\nodejs\templates'"#) == .string(#"C:\Users\nodejs\templates"#))
    #expect(try value(#"'<\i\c*\s*>'"#) == .string(#"<\i\c*\s*>"#))
    #expect(try value("''") == .string(""))
}

@Test func multilineStrings() throws {
    #expect(try value("\"\"\"\nRoses are red\nViolets are blue\"\"\"") == .string("Roses are red\nViolets are blue"))
    #expect(try value("\"\"\"\r\none\r\ntwo\r\n\"\"\"") == .string("one\ntwo\n"))
    // Line-ending backslash trims the newline and all following whitespace and newlines.
    #expect(try value("\"\"\"\nThe quick \\\n\n   brown \\   \n   fox.\\\n  \"\"\"") == .string("The quick brown fox."))
    #expect(try value("\"\"\"Here are two quotation marks: \"\". Simple enough.\"\"\"")
        == .string("Here are two quotation marks: \"\". Simple enough."))
    #expect(try value("\"\"\"\"This,\" she said, \"is just a pointless statement.\"\"\"\"")
        == .string("\"This,\" she said, \"is just a pointless statement.\""))
    #expect(try value("\"\"\"two at the end\"\"\"\"\"") == .string("two at the end\"\""))
    #expect(try value("'''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''")
        == .string("The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n"))
    #expect(try value("''''That,' she said, 'is still pointless.''''") == .string("'That,' she said, 'is still pointless.'"))
    #expect(try value(#"'''I [dw]on't need \d{2} apples'''"#) == .string(#"I [dw]on't need \d{2} apples"#))
    #expect(try value("\"\"\"\"\"\"") == .string(""))
    let t = try parse("s = \"\"\"\na\nb\"\"\"\nn = 1")
    #expect(t["n"]?.location == at(4, 5))
}

@Test(arguments: [
    ("+99", 99), ("42", 42), ("0", 0), ("-17", -17), ("-0", 0), ("+0", 0), ("1_000", 1000), ("5_349_221", 5_349_221),
    ("0xDEADBEEF", 0xDEAD_BEEF), ("0xdead_beef", 0xDEAD_BEEF), ("0x00ff", 255), ("0o755", 0o755), ("0o0_1", 1),
    ("0b11010110", 0b1101_0110), ("0b1_0", 2), ("9223372036854775807", .max), ("-9223372036854775808", .min),
    ("0x7FFFFFFFFFFFFFFF", .max),
] as [(String, Int64)])
func integers(text: String, expected: Int64) throws {
    #expect(try value(text) == .integer(expected))
}

@Test(arguments: [
    ("+1.0", 1.0), ("3.1415", 3.1415), ("-0.01", -0.01), ("5e+22", 5e22), ("1e06", 1e6), ("-2E-2", -0.02),
    ("6.626e-34", 6.626e-34), ("224_617.445_991_228", 224_617.445_991_228), ("0.0", 0), ("-0.0", -0.0), ("0e0", 0),
    ("1e1_0", 1e10), ("inf", .infinity), ("+inf", .infinity), ("-inf", -.infinity),
] as [(String, Double)])
func floats(text: String, expected: Double) throws {
    #expect(try value(text) == .float(expected))
}

@Test(arguments: ["nan", "+nan", "-nan"])
func nan(text: String) throws {
    #expect(try value(text).floatValue?.isNaN == true)
}

@Test func booleans() throws {
    let t = try parse("t = true\nf = false # comment")
    #expect(t["t"] == TOMLNode(value: .bool(true), location: at(1, 5)))
    #expect(t["f"] == TOMLNode(value: .bool(false), location: at(2, 5)))
}

@Test(arguments: [
    ("1979-05-27T07:32:00Z", .offsetDateTime), ("1979-05-27T00:32:00-07:00", .offsetDateTime),
    ("1979-05-27T00:32:00.999999+07:00", .offsetDateTime), ("1979-05-27 07:32:00z", .offsetDateTime),
    ("1979-05-27t07:32:00", .localDateTime), ("1979-05-27 07:32:00.5", .localDateTime),
    ("1979-05-27", .localDate), ("2024-02-29", .localDate), ("2000-02-29", .localDate), ("1999-12-31", .localDate),
    ("07:32:00", .localTime), ("00:32:00.999999", .localTime), ("23:59:60", .localTime),
] as [(String, TOMLDateTime.Kind)])
func datetimes(text: String, kind: TOMLDateTime.Kind) throws {
    #expect(try value(text) == .datetime(TOMLDateTime(text: text, kind: kind)))
}

@Test func arrays() throws {
    let t = try parse("""
        ints = [ 1, 2, 3 ]
        empty = []
        mixed = [ 0.1, "x", [1, [true]], {a = 1}, 1979-05-27 ]
        multi = [  # comment
          "a", # another
          # full line comment

          "b",
        ]
        """)
    #expect(t["ints"]?.value == .array([
        TOMLNode(value: .integer(1), location: at(1, 10)),
        TOMLNode(value: .integer(2), location: at(1, 13)),
        TOMLNode(value: .integer(3), location: at(1, 16)),
    ]))
    #expect(t["ints"]?.location == at(1, 8))
    #expect(t["empty"]?.value == .array([]))
    let mixed = try #require(t["mixed"]?.value.arrayValue)
    #expect(mixed.map(\.value.typeName) == ["float", "string", "array", "table", "local date"])
    #expect(mixed[2].value.arrayValue?[1].value.arrayValue?[0].value == .bool(true))
    #expect(mixed[3]["a"] == TOMLNode(value: .integer(1), location: at(3, 39)))
    #expect(t["multi"]?.value.arrayValue?.map(\.value) == [.string("a"), .string("b")])
    #expect(t["multi"]?.value.arrayValue?.map(\.location) == [at(5, 3), at(8, 3)])
}

@Test func inlineTables() throws {
    let t = try parse("""
        name = { first = "Tom", last = "Preston-Werner" }
        point = {x=1,y=2}
        animal = { type.name = "pug", type.size = "small" }
        empty = {}
        nested = { a = { b = [ { c = 1 } ] } }
        """)
    #expect(t["name"]?.location == at(1, 8))
    #expect(t["name"]?.value.tableValue?.keys == ["first", "last"])
    #expect(t["name"]?["last"] == TOMLNode(value: .string("Preston-Werner"), location: at(1, 32)))
    #expect(t["point"]?["y"]?.value == .integer(2))
    #expect(t["animal"]?["type"]?["size"]?.value == .string("small"))
    #expect(t["animal"]?["type"]?.location == at(3, 12))
    #expect(t["empty"]?.value == .table(TOMLTable()))
    #expect(t["nested"]?["a"]?["b"]?.value.arrayValue?.first?["c"]?.value == .integer(1))
}

@Test func tables() throws {
    let t = try parse("""
        top = 0
        [table-1]
        key1 = "some string"

        [ a . "b.c" . 'd' ]  # whitespace and quotes
        x = 1

        [a]
        y = 2
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true
        [fruit.apple.texture]
        smooth = true
        """)
    #expect(t.keys == ["top", "table-1", "a", "fruit"])
    #expect(t["table-1"]?.location == at(2, 1))
    #expect(t["table-1"]?["key1"]?.location == at(3, 8))
    // `a` was implied by line 5 and defined by line 8; its key stays where it first appeared.
    #expect(t["a"]?.location == at(8, 1))
    #expect(t.entry("a")?.keyLocation == at(5, 3))
    #expect(t["a"]?.value.tableValue?.keys == ["b.c", "y"])
    #expect(t["a"]?["b.c"]?.location == at(5, 1))
    #expect(t["a"]?["b.c"]?["d"]?["x"]?.value == .integer(1))
    #expect(t["fruit"]?["apple"]?.location == at(11, 1))
    #expect(t["fruit"]?["apple"]?.value.tableValue?.keys == ["color", "taste", "texture"])
    #expect(t["fruit"]?["apple"]?["texture"]?["smooth"]?.value == .bool(true))
    #expect(t["fruit"]?["apple"]?["texture"]?.location == at(13, 1))
}

@Test func arraysOfTables() throws {
    let t = try parse("""
        [[fruits]]
        name = "apple"

        [fruits.physical]  # subtable
        color = "red"

        [[fruits.varieties]]  # nested array of tables
        name = "red delicious"

        [[fruits.varieties]]
        name = "granny smith"

        [[fruits]]
        name = "banana"

        [[fruits.varieties]]
        name = "plantain"
        """)
    let fruits = try #require(t["fruits"])
    #expect(fruits.location == at(1, 1))
    let list = try #require(fruits.value.arrayValue)
    #expect(list.map(\.location) == [at(1, 1), at(13, 1)])
    #expect(list[0]["physical"]?["color"]?.value == .string("red"))
    #expect(list[0]["varieties"]?.value.arrayValue?.map(\.location) == [at(7, 1), at(10, 1)])
    #expect(list[0]["varieties"]?.value.arrayValue?[1]["name"]?.value == .string("granny smith"))
    #expect(list[1]["name"] == TOMLNode(value: .string("banana"), location: at(14, 8)))
    #expect(list[1]["varieties"]?.value.arrayValue?.count == 1)
}

@Test func crlfDocument() throws {
    let t = try parse("# c\r\n[s]\r\na = 1 # x\r\nb = \"\"\"\r\nl1\r\nl2\"\"\"\r\nc = [\r\n 1,\r\n]\r\n")
    #expect(t["s"]?["a"] == TOMLNode(value: .integer(1), location: at(3, 5)))
    #expect(t["s"]?["b"]?.value == .string("l1\nl2"))
    #expect(t["s"]?["c"]?.value.arrayValue?.first?.location == at(8, 2))
}

@Test func publicHelpers() throws {
    let t = try parse("s = 's'\ni = 1\nf = 1.5\nb = true\nd = 10:00:00\na = []\nt = {}")
    #expect(t.entries.map(\.node.value.typeName) == ["string", "integer", "float", "boolean", "local time", "array", "table"])
    #expect(t.count == 7 && t["missing"] == nil)
    #expect(t["s"]?.value.stringValue == "s" && t["i"]?.value.integerValue == 1 && t["f"]?.value.floatValue == 1.5)
    #expect(t["i"]?.value.floatValue == nil && t["b"]?.value.boolValue == true)
    #expect(t["d"]?.value.datetimeValue?.kind == .localTime)
    let e = TOMLError(file: "f.toml", location: at(2, 9), message: "boom")
    #expect(e.description == "f.toml:2:9: boom")
}

@Test func multilineFalseEnds() throws {
    let t = try parse("""
        one = \""" "one quote" \"""
        two = \""" ""two quotes"" \"""
        lit_one = ''' 'one quote' '''
        lit_two = ''' ''two quotes'' '''
        mismatch1 = \"""aaa'''bbb\"""
        mismatch2 = '''aaa\"""bbb'''
        """)
    #expect(t.entries.map(\.node.value) == [
        .string(#" "one quote" "#), .string(#" ""two quotes"" "#), .string(" 'one quote' "),
        .string(" ''two quotes'' "), .string("aaa'''bbb"), .string(#"aaa"""bbb"#),
    ])
    #expect(t.entries.map(\.node.location) == [at(1, 7), at(2, 7), at(3, 11), at(4, 11), at(5, 13), at(6, 13)])
}
