#if canImport(Glibc)
import Glibc
#endif
import Testing
import TOML

/// The cases of the official toml-test suite in Tests/Fixtures/toml-test (see its README):
/// every `valid/**/*.toml` parses to the values of the `.json` beside it, every
/// `invalid/**/*.toml` is rejected. `CGWARDEN_TOML_TEST_DIR` points the test at another copy
/// (e.g. the whole upstream `tests/` directory, filtered by `files-toml-1.0.0`).
@Suite struct TOMLTestSuiteTests {
    static let root: String = {
        if let dir = getenv("CGWARDEN_TOML_TEST_DIR") { return String(cString: dir) }
        let file: String = #filePath  // .../Tests/TOMLTests/TOMLTestSuiteTests.swift
        return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
            + "/Fixtures/toml-test"
    }()

    /// Paths below `root` of the `.toml` files under `dir`, sorted.
    static func cases(_ dir: String) -> [String] {
        var out: [String] = []
        var pending = [dir]
        while let relative = pending.popLast() {
            guard let handle = opendir(root + "/" + relative) else { continue }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                }
                if name.hasPrefix(".") { continue }
                let path = relative + "/" + name
                if name.hasSuffix(".toml") {
                    out.append(path)
                } else if let directory = opendir(root + "/" + path) {
                    closedir(directory)
                    pending.append(path)
                }
            }
        }
        return out.sorted()
    }

    static func read(_ relative: String) -> [UInt8]? {
        guard let file = fopen(root + "/" + relative, "rb") else { return nil }
        defer { fclose(file) }
        var out: [UInt8] = []
        while true {
            let byte = fgetc(file)
            if byte == EOF { break }
            out.append(UInt8(byte))
        }
        return out
    }

    static let valid = cases("valid")
    static let invalid = cases("invalid")

    @Test func theFixturesAreThere() {
        #expect(TOMLTestSuiteTests.valid.count >= 40)
        #expect(TOMLTestSuiteTests.invalid.count >= 67)
    }

    @Test(arguments: valid)
    func validCase(_ path: String) throws {
        let bytes = try #require(TOMLTestSuiteTests.read(path))
        let table: TOMLTable
        do {
            table = try parseTOML(utf8: bytes, file: path)
        } catch {
            Issue.record("rejected: \(error)")
            return
        }
        let jsonPath = String(path.dropLast(".toml".count)) + ".json"
        let json = try #require(TOMLTestSuiteTests.read(jsonPath), "no \(jsonPath)")
        var parser = TaggedJSON(bytes: json)
        let parsed = parser.parse()
        let expected = try #require(parsed, "\(jsonPath) is not JSON this test reads")
        let differences = TaggedJSON.compare(.table(table), expected, at: "")
        #expect(differences.isEmpty, "\(differences.prefix(5).joined(separator: "; "))")
    }

    @Test(arguments: invalid)
    func invalidCase(_ path: String) throws {
        let bytes = try #require(TOMLTestSuiteTests.read(path))
        #expect(throws: TOMLError.self, "accepted") { try parseTOML(utf8: bytes, file: path) }
    }
}

/// toml-test's expected values: JSON where every scalar is `{"type": ..., "value": "..."}`.
/// Just enough JSON for those files (objects, arrays, strings; no numbers outside strings).
struct TaggedJSON {
    indirect enum Value {
        case object([String: Value])
        case array([Value])
        case string(String)
    }

    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parse() -> Value? {
        guard let value = parseValue() else { return nil }
        skipSpace()
        return pos == bytes.count ? value : nil
    }

    private mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    private mutating func parseValue() -> Value? {
        skipSpace()
        guard pos < bytes.count else { return nil }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var members: [String: Value] = [:]
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipSpace()
                guard case .string(let key)? = parseValue() else { return nil }
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { return nil }
                pos += 1
                guard let value = parseValue() else { return nil }
                members[key] = value
                skipSpace()
                guard pos < bytes.count else { return nil }
                pos += 1
                if bytes[pos - 1] == UInt8(ascii: "}") { return .object(members) }
                if bytes[pos - 1] != UInt8(ascii: ",") { return nil }
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [Value] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                guard let value = parseValue() else { return nil }
                items.append(value)
                skipSpace()
                guard pos < bytes.count else { return nil }
                pos += 1
                if bytes[pos - 1] == UInt8(ascii: "]") { return .array(items) }
                if bytes[pos - 1] != UInt8(ascii: ",") { return nil }
            }
        case UInt8(ascii: "\""):
            pos += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw.removeAll()
            }
            while pos < bytes.count {
                let byte = bytes[pos]
                pos += 1
                if byte == UInt8(ascii: "\"") {
                    flush()
                    return .string(String(scalars))
                }
                guard byte == UInt8(ascii: "\\") else { raw.append(byte); continue }
                flush()
                guard pos < bytes.count else { return nil }
                let escape = bytes[pos]
                pos += 1
                switch escape {
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{C}")
                case UInt8(ascii: "u"):
                    guard var unit = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(unit) {  // a surrogate pair
                        guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else { return nil }
                        pos += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(unit) else { return nil }
                    scalars.append(scalar)
                default: scalars.append(Unicode.Scalar(escape))  // \" \\ \/
                }
            }
            return nil
        default:
            return nil
        }
    }

    private mutating func hex4() -> UInt32? {
        guard pos + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16)
        else { return nil }
        pos += 4
        return value
    }

    /// The differences between a parsed value and the expected one, each naming its key path.
    static func compare(_ actual: TOMLValue, _ expected: Value, at path: String) -> [String] {
        switch (actual, expected) {
        case (.table(let table), .object(let members)):
            var out: [String] = []
            if Set(table.keys) != Set(members.keys) {
                out.append("\(path): keys \(table.keys.sorted()) != \(members.keys.sorted())")
            }
            for (key, value) in members {
                if let node = table[key] { out += compare(node.value, value, at: path + "." + key) }
            }
            return out
        case (.array(let items), .array(let expectedItems)):
            guard items.count == expectedItems.count else {
                return ["\(path): \(items.count) items != \(expectedItems.count)"]
            }
            return zip(items, expectedItems).enumerated().flatMap { index, pair in
                compare(pair.0.value, pair.1, at: path + "[\(index)]")
            }
        case (_, .object(let tagged)):
            guard case .string(let type)? = tagged["type"], case .string(let text)? = tagged["value"] else {
                return ["\(path): expected a table, found \(actual.typeName)"]
            }
            return scalarMatches(actual, type: type, text: text) ? [] : ["\(path): \(actual) != \(type) \(text)"]
        default:
            return ["\(path): \(actual.typeName) does not match \(expected)"]
        }
    }

    static func scalarMatches(_ value: TOMLValue, type: String, text: String) -> Bool {
        switch value {
        case .string(let string): return type == "string" && string == text
        case .integer(let integer): return type == "integer" && Int64(text) == integer
        case .bool(let bool): return type == "bool" && text == String(bool)
        case .float(let float):
            guard type == "float", let wanted = Double(text) else { return false }
            return (float.isNaN && wanted.isNaN) || (float == wanted && float.sign == wanted.sign)
        case .datetime(let datetime):
            let types: [TOMLDateTime.Kind: String] = [
                .offsetDateTime: "datetime", .localDateTime: "datetime-local",
                .localDate: "date-local", .localTime: "time-local",
            ]
            return types[datetime.kind] == type && normalized(datetime.text) == normalized(text)
        case .array, .table: return false
        }
    }

    /// One spelling for the ways TOML may write the same date-time: `T`, `t` or a space between
    /// date and time, `Z` or `z`, trailing zeros of the fraction (`56.6` is `56.600`).
    static func normalized(_ text: String) -> String {
        var out = ""
        for (index, character) in text.enumerated() {
            switch character {
            case " " where index == 10, "t" where index == 10: out.append("T")
            case "z": out.append("Z")
            default: out.append(character)
            }
        }
        guard let dot = out.firstIndex(of: ".") else { return out }
        let digits = out[out.index(after: dot)...].prefix { $0.isNumber }
        var fraction = String(digits)
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let rest = out[digits.endIndex...]
        return out[..<dot] + (fraction.isEmpty ? "" : "." + fraction) + rest
    }
}
