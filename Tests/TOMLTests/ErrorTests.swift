import Testing
import TOML

/// The error description for `text`, or "no error".
func failure(_ text: String) -> String {
    do {
        _ = try parseTOML(text, file: "x.toml")
        return "no error"
    } catch {
        return error.description
    }
}

@Test(arguments: [
    // Key without value, value without key, garbage, truncated headers.
    ("a", "1:2: expected '=' after key 'a', found end of file"),
    ("[t]\nname\n", "2:5: expected '=' after key 'name', found end of line"),
    ("name =\n", "1:7: missing value for key 'name'"),
    ("a.b = # nothing", "1:7: missing value for key 'a.b'"),
    ("= \"x\"", "1:1: missing key before '='"),
    ("  = 1", "1:3: missing key before '='"),
    ("a.=1", "1:3: missing key after '.'"),
    ("a b = 1", "1:3: expected '=' after key 'a', found 'b'"),
    ("a = 1 x", "1:7: expected end of line after value of key 'a', found 'x'"),
    ("a = \"x\" \"y\"", "1:9: expected end of line after value of key 'a', found '\"'"),
    ("a = 1,", "1:6: expected end of line after value of key 'a', found ','"),
    ("a = 1\rb = 2", "1:6: expected end of line after value of key 'a', found control character U+000D"),
    ("[t] x = 1", "1:5: expected end of line after header '[t]', found 'x'"),
    ("[[t]] x", "1:7: expected end of line after header '[[t]]', found 'x'"),
    ("[a", "1:3: expected ']' to close header 'a', found end of file"),
    ("[[a]\n", "1:4: expected ']]' to close header 'a', found ']'"),
    ("[]", "1:2: expected a key, found ']'"),
    ("[a.]", "1:4: expected a key, found ']'"),
    ("\"\"\"k\"\"\" = 1", "1:1: multi-line strings cannot be used as keys"),
    // Arrays and inline tables.
    ("a = 1\n# ok\nb = [1,\n2", "3:5: unterminated array"),
    ("a = [1 2]", "1:8: expected ',' or ']' in array, found '2'"),
    ("a = [,]", "1:6: expected a value, found ','"),
    ("a = {b = 1", "1:5: unterminated inline table"),
    ("a = {b = 1\n}", "1:5: unterminated inline table"),
    ("a = {b = 1,}", "1:12: trailing comma is not allowed in an inline table"),
    ("a = {b = 1 c = 2}", "1:12: expected ',' or '}' in inline table, found 'c'"),
    ("a = {b = }", "1:10: missing value for key 'b'"),
    // Strings.
    ("a = \"abc", "1:5: unterminated string"),
    ("a = \"abc\nb = 1", "1:5: unterminated string"),
    ("x = 1\ns = '''\nabc\n", "2:5: unterminated string"),
    ("s = \"\"\"abc\"\"", "1:5: unterminated string"),
    (#"a = "\q""#, #"1:6: invalid escape sequence '\q'"#),
    (#"a = "ok\x41""#, #"1:8: invalid escape sequence '\x'"#),
    (#"a = "\ ""#, #"1:6: invalid escape sequence '\ '"#),
    ("a = \"\"\"x\\ y\"\"\"", #"1:9: invalid escape sequence '\ '"#),
    ("a = \"abc\\\n\"", #"1:9: invalid escape sequence: '\' at end of line"#),
    (#"a = "\uD800""#, #"1:6: invalid unicode escape '\uD800': not a Unicode scalar value"#),
    (#"a = "\U00110000""#, #"1:6: invalid unicode escape '\U00110000': not a Unicode scalar value"#),
    (#"a = "\u12G4""#, #"1:6: invalid unicode escape '\u12': expected 4 hex digits"#),
    ("a = \"x\u{1}\"", "1:7: control character U+0001 is not allowed in a string"),
    ("a = '''x\u{7F}'''", "1:9: control character U+007F is not allowed in a string"),
    ("a = 1 # bell\u{7}", "1:13: control character U+0007 is not allowed in a comment"),
    // Numbers.
    ("a = 01", "1:5: invalid number '01': leading zeros are not allowed"),
    ("a = 01.5", "1:5: invalid number '01.5': leading zeros are not allowed"),
    ("a = 1__2", "1:5: invalid number '1__2': underscores must be between digits"),
    ("a = _1", "1:5: invalid number '_1': underscores must be between digits"),
    ("a = 1_", "1:5: invalid number '1_': underscores must be between digits"),
    ("a = 1_.5", "1:5: invalid number '1_.5': underscores must be between digits"),
    ("x = 1\na = 99999999999999999999", "2:5: integer '99999999999999999999' overflows 64 bits"),
    ("a = -9223372036854775809", "1:5: integer '-9223372036854775809' overflows 64 bits"),
    ("a = 0x8000000000000000", "1:5: integer '0x8000000000000000' overflows 64 bits"),
    ("a = 1.", "1:5: invalid number '1.': missing digits after '.'"),
    ("a = .5", "1:5: invalid number '.5': missing digits before '.'"),
    ("a = 1.e5", "1:5: invalid number '1.e5': missing digits after '.'"),
    ("a = 1e", "1:5: invalid number '1e': missing digits in exponent"),
    ("a = 0x", "1:5: invalid number '0x': missing digits"),
    ("a = 0o8", "1:5: invalid number '0o8'"),
    ("a = -0x1", "1:5: invalid number '-0x1': hexadecimal, octal and binary integers cannot have a sign"),
    ("a = 0XFF", "1:5: invalid number '0XFF'"),
    ("a = 1.2.3", "1:5: invalid number '1.2.3'"),
    ("a = 1e400", "1:5: float '1e400' is out of range"),
    ("a = 10MB", "1:5: invalid number '10MB'"),
    ("a = Inf", "1:5: invalid value 'Inf' (strings must be quoted)"),
    ("a = tenants", "1:5: invalid value 'tenants' (strings must be quoted)"),
    // Dates and times.
    ("a = 2023-02-29", "1:5: invalid date '2023-02-29': day must be 01-28 for 2023-02"),
    ("a = 1900-02-29", "1:5: invalid date '1900-02-29': day must be 01-28 for 1900-02"),
    ("a = 2023-04-31T00:00:00", "1:5: invalid date '2023-04-31T00:00:00': day must be 01-30 for 2023-04"),
    ("a = 2023-13-01", "1:5: invalid date '2023-13-01': month must be 01-12"),
    ("a = 2023-00-01", "1:5: invalid date '2023-00-01': month must be 01-12"),
    ("a = 1979-5-27", "1:5: invalid date '1979-5-27': expected YYYY-MM-DD"),
    ("a = 24:00:00", "1:5: invalid time '24:00:00': hour must be 00-23"),
    ("a = 12:60:00", "1:5: invalid time '12:60:00': minute must be 00-59"),
    ("a = 12:00:61", "1:5: invalid time '12:00:61': second must be 00-60"),
    ("a = 12:00", "1:5: invalid time '12:00': expected HH:MM:SS"),
    ("a = 1979-05-27T07:32", "1:5: invalid date-time '1979-05-27T07:32': expected HH:MM:SS"),
    ("a = 1979-05-27 24:00:00", "1:5: invalid time '1979-05-27 24:00:00': hour must be 00-23"),
    ("a = 1979-05-27T07:32:00.", "1:5: invalid time '1979-05-27T07:32:00.': expected digits after '.'"),
    ("a = 1979-05-27T07:32:00+24:00", "1:5: invalid date-time '1979-05-27T07:32:00+24:00': offset must be between -23:59 and +23:59"),
    ("a = 1979-05-27T07:32:00+0700", "1:5: invalid date-time '1979-05-27T07:32:00+0700': expected 'Z' or an offset like +02:00"),
    ("a = 1979-05-27X07:32:00", "1:5: invalid date-time '1979-05-27X07:32:00'"),
    ("a = 1979-05-27T07:32:00Zjunk", "1:5: invalid date-time '1979-05-27T07:32:00Zjunk'"),
    ("a = 1979-05-27 # no time", "no error"),
    // Duplicate keys and redefinitions.
    ("a = 1\na = 2", "2:1: duplicate key 'a' (first defined at line 1)"),
    ("[t]\nname = 1\n\nname = 2", "4:1: duplicate key 'name' (first defined at line 2)"),
    ("a.b = 1\na.b = 2", "2:1: duplicate key 'a.b' (first defined at line 1)"),
    ("\"a\" = 1\n'a' = 2", "2:1: duplicate key 'a' (first defined at line 1)"),
    ("\"a b\" = 1\n\"a b\" = 2", "2:1: duplicate key '\"a b\"' (first defined at line 1)"),
    ("a = {b = 1, b = 2}", "1:13: duplicate key 'b' (first defined at line 1)"),
    ("[a.b]\n[a]\nb = 1", "3:1: duplicate key 'b' (first defined at line 1)"),
    ("[a]\n[a]", "2:1: table 'a' already defined at line 1"),
    ("[a]\n[b]\n[ a ]", "3:1: table 'a' already defined at line 1"),
    ("[a.b]\n[a]\n[a.b]", "3:1: table 'a.b' already defined at line 1"),
    ("[[a]]\n[a.b]\n[a.b]", "3:1: table 'a.b' already defined at line 2"),
    ("[a]\nb = 1\n[a.b]", "3:1: cannot define table 'a.b': it is already an integer defined at line 2"),
    ("[a]\nb.c = 1\n[a.b]", "3:1: table 'a.b' already defined by dotted keys at line 2"),
    ("a = {}\n[a]", "2:1: cannot define table 'a': it is already an inline table defined at line 1"),
    ("a = {b = 1}\n[a.c]", "2:1: cannot define table 'a.c': 'a' is an inline table defined at line 1"),
    ("a = {b = 1}\na.c = 2", "2:1: cannot define key 'a.c': 'a' is an inline table defined at line 1"),
    ("tbl = { fruit = { apple.color = \"red\" }, fruit.apple.texture = 1 }",
     "1:42: cannot define key 'fruit.apple.texture': 'fruit' is an inline table defined at line 1"),
    ("a = [{ b = 1 }]\n[a.c]", "2:1: cannot define table 'a.c': 'a' is an array defined at line 1"),
    ("a = []\n[[a]]", "2:1: cannot append to static array 'a' defined at line 1"),
    ("[[a]]\n[a]", "2:1: cannot define table 'a': it is already an array of tables defined at line 1"),
    ("[a]\n[[a]]", "2:1: cannot define array of tables 'a': it is already a table defined at line 1"),
    ("[[a]]\nb.c = 1\n[[a]]\n[a.b]\n[a.b]", "5:1: table 'a.b' already defined at line 4"),
    ("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", "4:1: cannot use dotted key 'b.c.t' to extend table 'b.c' defined at line 1"),
    ("[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1", "4:1: cannot use dotted key 'b.c.d.k.t' to extend table 'b.c.d' defined at line 1"),
    ("a = 1\na.b = 2", "2:1: cannot define key 'a.b': 'a' is an integer defined at line 1"),
    ("[[a]]\n[b]\na.x = 1\n[b.a]", "4:1: table 'b.a' already defined by dotted keys at line 3"),
] as [(String, String)])
func rejects(text: String, expected: String) {
    #expect(failure(text) == (expected == "no error" ? expected : "x.toml:" + expected))
}

@Test func errorIsTypedAndStructured() {
    #expect(throws: TOMLError(file: "cg.toml", location: TOMLLocation(line: 2, column: 9),
                              message: "integer '99999999999999999999' overflows 64 bits")) {
        try parseTOML("[daemon]\nlimit = 99999999999999999999\n", file: "cg.toml")
    }
}

@Test(arguments: [
    (Array("a = \"x".utf8) + [0xFF] + Array("\"".utf8), "1:7: invalid UTF-8: byte 0xFF does not start a well-formed character"),
    (Array("# é\n".utf8) + [0x80], "2:1: invalid UTF-8: byte 0x80 does not start a well-formed character"),  // stray continuation
    (Array("k = '".utf8) + [0xC0, 0xAF] + Array("'".utf8), "1:6: invalid UTF-8: byte 0xC0 does not start a well-formed character"),  // overlong '/'
    (Array("k = '".utf8) + [0xED, 0xA0, 0x80] + Array("'".utf8), "1:6: invalid UTF-8: byte 0xED does not start a well-formed character"),  // surrogate
    (Array("k = 1 #".utf8) + [0xF4, 0x90, 0x80, 0x80], "1:8: invalid UTF-8: byte 0xF4 does not start a well-formed character"),  // past U+10FFFF
    (Array("k = 'é".utf8) + [0xE2, 0x82], "1:7: invalid UTF-8: byte 0xE2 does not start a well-formed character"),  // truncated at the end
    ([0xEF, 0xBB, 0xBF] + Array("k = 'é'".utf8), "no error"),
] as [([UInt8], String)])
func rejectsIllFormedUTF8(bytes: [UInt8], expected: String) {
    var result = "no error"
    do { _ = try parseTOML(utf8: bytes, file: "x.toml") } catch { result = error.description }
    #expect(result == (expected == "no error" ? expected : "x.toml:" + expected))
}
