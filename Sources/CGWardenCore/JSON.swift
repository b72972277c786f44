/// A small JSON value with ordered objects, a writer and a parser.
///
/// cgwarden's JSON documents are part of its interface (`status --json`,
/// recordings); their key order is fixed and documented, and the daemon path
/// stays free of Foundation (its JSON coders pull in ICU, ~12 MB of RSS; see
/// Docs/architecture.md).
public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    /// Integers are kept exact (byte counts exceed 2^53 only in theory, but
    /// counters and ids must round-trip).
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default:
            if let x = a.numberValue, let y = b.numberValue {
                if let i = a.uint64Value, let j = b.uint64Value { return i == j }
                return x == y
            }
            return false
        }
    }

    // MARK: building

    public static func number(_ v: UInt64?) -> JSON { v.map { .uint($0) } ?? .null }
    public static func number(_ v: Int?) -> JSON { v.map { .int(Int64($0)) } ?? .null }
    public static func number(_ v: Double?) -> JSON { v.map { .double($0) } ?? .null }
    public static func string(_ v: String?) -> JSON { v.map { .string($0) } ?? .null }

    // MARK: reading

    public subscript(key: String) -> JSON? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public subscript(index: Int) -> JSON? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    public var isNull: Bool { self == .null }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }

    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .double(let d): return d
        default: return nil
        }
    }

    public var uint64Value: UInt64? {
        switch self {
        case .int(let i): return i >= 0 ? UInt64(i) : nil
        case .uint(let u): return u
        case .double(let d): return d >= 0 && d < 18446744073709551616.0 && d == d.rounded() ? UInt64(d) : nil
        default: return nil
        }
    }

    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .uint(let u): return u <= UInt64(Int64.max) ? Int64(u) : nil
        case .double(let d): return d == d.rounded() && abs(d) < 9.2e18 ? Int64(d) : nil
        default: return nil
        }
    }
}

// MARK: - writing

extension JSON {
    /// Compact (one line) or pretty (two-space indent) text.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): out += JSON.format(d)
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if pretty { JSON.newline(&out, indent + 1) }
                v.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSON.newline(&out, indent) }
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                if pretty { JSON.newline(&out, indent + 1) }
                JSON.writeString(k, to: &out)
                out += pretty ? ": " : ":"
                v.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSON.newline(&out, indent) }
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ indent: Int) {
        out += "\n"
        for _ in 0..<indent { out += "  " }
    }

    /// Finite doubles print as the shortest text that reads back the same
    /// (`1.59`, `0.0`); NaN and infinities, which JSON cannot hold, as null.
    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return String(d)
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Most strings (paths, keys) need no escape: appended whole, not scalar by scalar.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 == 0x7f }) {
            out += s
            out += "\""
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7f:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

// MARK: - parsing

/// Where and why a JSON text could not be read.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

extension JSON {
    /// Parses one JSON document (RFC 8259). Duplicate object keys are kept in order.
    public static func parse(_ text: String) throws(JSONError) -> JSON {
        var p = JSONParser(Array(text.utf8))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.atEnd else { throw p.error("unexpected text after the document") }
        return v
    }
}

struct JSONParser {
    let b: [UInt8]
    var i = 0
    /// Deeper nesting than any cgwarden document; stops a hostile file from
    /// exhausting the stack.
    static let maxDepth = 64

    init(_ b: [UInt8]) { self.b = b }

    var atEnd: Bool { i >= b.count }

    func error(_ message: String) -> JSONError {
        var line = 1, col = 1
        for c in b[0..<min(i, b.count)] {
            if c == UInt8(ascii: "\n") { line += 1; col = 1 } else { col += 1 }
        }
        return JSONError(line: line, column: col, message: message)
    }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 }
    }

    mutating func expect(_ word: String, _ v: JSON) throws(JSONError) -> JSON {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw error("invalid literal") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws(JSONError) -> JSON {
        guard depth < JSONParser.maxDepth else { throw error("nested too deeply") }
        guard i < b.count else { throw error("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            i += 1
            var a: [JSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipSpace()
                a.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw error("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "{"):
            i += 1
            var o: [(String, JSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                skipSpace()
                o.append((k, try value(depth: depth + 1)))
                skipSpace()
                guard i < b.count else { throw error("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw error("expected ',' or '}'")
            }
        default:
            return try number()
        }
    }

    mutating func number() throws(JSONError) -> JSON {
        let start = i
        var isFloat = false
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, ASCII.isDigit(b[i]) else { throw error("invalid value") }
        if b[i] == ASCII.zero, i + 1 < b.count, ASCII.isDigit(b[i + 1]) { throw error("leading zero in number") }
        while i < b.count, ASCII.isDigit(b[i]) { i += 1 }
        if i < b.count, b[i] == ASCII.dot {
            isFloat = true
            i += 1
            guard i < b.count, ASCII.isDigit(b[i]) else { throw error("digit expected after '.'") }
            while i < b.count, ASCII.isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isFloat = true
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, ASCII.isDigit(b[i]) else { throw error("digit expected in exponent") }
            while i < b.count, ASCII.isDigit(b[i]) { i += 1 }
        }
        let t = String(decoding: b[start..<i], as: UTF8.self)
        if !isFloat {
            if let v = Int64(t) { return .int(v) }
            if let v = UInt64(t) { return .uint(v) }
        }
        guard let d = Double(t) else { throw error("invalid number") }
        return .double(d)
    }

    mutating func string() throws(JSONError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < b.count else { throw error("unterminated string") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw error("lone surrogate in string")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("lone surrogate in string")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    throw error("invalid escape in string")
                }
            default:
                guard c >= 0x20 else { throw error("control character in string") }
                out.append(c)
            }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= b.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }
}
