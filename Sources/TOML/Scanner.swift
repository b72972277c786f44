/// Byte-level cursor over the UTF-8 of a TOML document, plus the lexical pieces:
/// whitespace, comments, newlines, keys and strings. Numbers and dates live in Scalars.swift,
/// document structure in Parser.swift.
struct Parser {
    let bytes: [UInt8]
    let file: String
    var pos = 0
    /// Byte offset of the start of each line, for computing locations on demand.
    private let lineStarts: [Int]
    /// `scalarCounts[k]`: how many Unicode scalars start before byte `k * columnBlock`. A column is
    /// then found by scanning at most `columnBlock` bytes, whatever the length of the line: a
    /// document on one line (a key of many parts, a long inline table) stays linear.
    private let scalarCounts: [Int]
    private static let columnBlock = 64

    /// The deepest nesting of tables and arrays accepted. Every level costs a few stack frames
    /// while parsing and again wherever the tree is walked recursively (freezing it, comparing it,
    /// freeing it), so an unbounded depth lets a few kilobytes of brackets or dotted parts overflow
    /// the stack. 128 is what toml-test's README suggests ("more than enough to process pretty much
    /// all real-world TOML documents"); cgwarden's own schema nests three levels
    /// (`[[guard.trigger]]` inside an array inside the root).
    static let maxNesting = 128

    init(text: String, file: String) { self.init(bytes: Array(text.utf8), file: file) }

    init(bytes: [UInt8], file: String) {
        var bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // UTF-8 BOM
        self.bytes = bytes
        self.file = file
        var starts = [0]
        var counts = [0]
        counts.reserveCapacity(bytes.count / Parser.columnBlock + 1)
        var scalars = 0
        for (offset, byte) in bytes.enumerated() {
            if byte == 0x0A { starts.append(offset + 1) }
            if byte & 0xC0 != 0x80 { scalars += 1 }
            if (offset + 1) % Parser.columnBlock == 0 { counts.append(scalars) }
        }
        lineStarts = starts
        scalarCounts = counts
    }

    // MARK: Positions and errors

    /// Unicode scalars that start before byte `p`, in at most `columnBlock` steps.
    private func scalars(before p: Int) -> Int {
        let block = p / Parser.columnBlock
        var count = scalarCounts[block]
        for offset in (block * Parser.columnBlock)..<p where bytes[offset] & 0xC0 != 0x80 { count += 1 }
        return count
    }

    func location(_ p: Int) -> TOMLLocation {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= p { lo = mid } else { hi = mid - 1 }
        }
        let end = min(p, bytes.count)
        return TOMLLocation(line: lo + 1, column: scalars(before: end) - scalars(before: lineStarts[lo]) + 1)
    }

    func nestingError(at p: Int) -> TOMLError {
        error("nesting too deep: more than \(Parser.maxNesting) tables and arrays inside one another", at: p)
    }

    func error(_ message: String, at p: Int) -> TOMLError {
        TOMLError(file: file, location: location(p), message: message)
    }

    /// Describes what is at `p` for "found ..." messages.
    func describe(_ p: Int) -> String {
        guard p < bytes.count else { return "end of file" }
        let b = bytes[p]
        if isNewline(p) { return "end of line" }
        if isControl(b) { return "control character \(hex(UInt32(b)))" }
        let len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
        return "'" + String(decoding: bytes[p..<min(p + len, bytes.count)], as: UTF8.self) + "'"
    }

    /// Where the first ill-formed UTF-8 sequence starts (a stray continuation byte, an
    /// overlong form, a surrogate, a scalar past U+10FFFF, a truncated sequence), or nil.
    func firstInvalidUTF8() -> Int? {
        var decoder = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    // MARK: Character classes

    var atEnd: Bool { pos >= bytes.count }
    func peek(_ offset: Int = 0) -> UInt8? { pos + offset < bytes.count ? bytes[pos + offset] : nil }

    /// LF or CRLF at `p`.
    func isNewline(_ p: Int) -> Bool {
        guard p < bytes.count else { return false }
        return bytes[p] == 0x0A || (bytes[p] == 0x0D && p + 1 < bytes.count && bytes[p + 1] == 0x0A)
    }

    /// At a newline or the end of input.
    var atLineEnd: Bool { atEnd || isNewline(pos) }

    /// Consumes LF or CRLF if present.
    mutating func skipNewline() -> Bool {
        guard isNewline(pos) else { return false }
        pos += bytes[pos] == 0x0D ? 2 : 1
        return true
    }

    mutating func skipWhitespace() {
        while let b = peek(), b == 0x20 || b == 0x09 { pos += 1 }
    }

    /// Skips a `#` comment up to (not including) the newline, rejecting control characters.
    mutating func skipComment() throws(TOMLError) {
        guard peek() == UInt8(ascii: "#") else { return }
        while !atLineEnd {
            if isControl(bytes[pos]) && bytes[pos] != 0x09 {
                throw error("control character \(hex(UInt32(bytes[pos]))) is not allowed in a comment", at: pos)
            }
            pos += 1
        }
    }

    /// Skips whitespace, comments and newlines (inside arrays).
    mutating func skipBlank() throws(TOMLError) {
        while true {
            skipWhitespace()
            try skipComment()
            if !skipNewline() { return }
        }
    }

    // MARK: Keys

    struct KeyPart {
        let name: String
        let pos: Int
    }

    /// Parses `simple-key *( ws "." ws simple-key )`, leaving the cursor after trailing whitespace.
    /// A key of more than `maxParts` parts is a nesting error at the first part too many: the rest
    /// of a hostile key is never read.
    mutating func parseKey(maxParts: Int) throws(TOMLError) -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            skipWhitespace()
            let start = pos
            if parts.count == maxParts { throw nestingError(at: start) }
            switch peek() {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if peek(1) == bytes[pos] && peek(2) == bytes[pos] {
                    throw error("multi-line strings cannot be used as keys", at: pos)
                }
                parts.append(KeyPart(name: try parseString(), pos: start))
            case let b? where isBareKeyChar(b):
                while let b = peek(), isBareKeyChar(b) { pos += 1 }
                parts.append(KeyPart(name: String(decoding: bytes[start..<pos], as: UTF8.self), pos: start))
            case UInt8(ascii: "=")?:
                throw error(parts.isEmpty ? "missing key before '='" : "missing key after '.'", at: pos)
            default:
                throw error("expected a key, found \(describe(pos))", at: pos)
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ".") else { return parts }
            pos += 1
        }
    }

    // MARK: Strings

    /// Parses any of the four string forms; the cursor is on the opening quote.
    mutating func parseString() throws(TOMLError) -> String {
        let start = pos, quote = bytes[pos]
        let literal = quote == UInt8(ascii: "'")
        let multiline = peek(1) == quote && peek(2) == quote
        pos += multiline ? 3 : 1
        if multiline { _ = skipNewline() }  // a newline right after the opening delimiter is trimmed
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw error("unterminated string", at: start) }
            if b == quote {
                guard multiline else { pos += 1; break }
                var run = 0
                while peek(run) == quote && run < 5 { run += 1 }
                pos += run
                if run < 3 { out.append(contentsOf: repeatElement(quote, count: run)); continue }
                out.append(contentsOf: repeatElement(quote, count: run - 3))
                break
            }
            if isNewline(pos) {
                guard multiline else { throw error("unterminated string", at: start) }
                _ = skipNewline()
                out.append(0x0A)
            } else if b == UInt8(ascii: "\\") && !literal {
                try parseEscape(into: &out, multiline: multiline)
            } else if isControl(b) && b != 0x09 {
                throw error("control character \(hex(UInt32(b))) is not allowed in a string", at: pos)
            } else {
                out.append(b)
                pos += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses an escape sequence; the cursor is on the backslash.
    private mutating func parseEscape(into out: inout [UInt8], multiline: Bool) throws(TOMLError) {
        let start = pos
        pos += 1
        guard let c = peek() else { throw error("unterminated string", at: start) }
        if let v = Parser.simpleEscapes[c] {
            out.append(v)
            pos += 1
            return
        }
        if c == UInt8(ascii: "u") || c == UInt8(ascii: "U") {
            let count = c == UInt8(ascii: "u") ? 4 : 8
            pos += 1
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let d = peek().flatMap(hexDigit) else {
                    throw error("invalid unicode escape '\(text(start..<pos))': expected \(count) hex digits", at: start)
                }
                value = value << 4 | UInt32(d)
                pos += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("invalid unicode escape '\(text(start..<pos))': not a Unicode scalar value", at: start)
            }
            out.append(contentsOf: String(scalar).utf8)
            return
        }
        if multiline {  // line-ending backslash: whitespace, a newline, then all whitespace/newlines are trimmed
            var p = pos
            while p < bytes.count && (bytes[p] == 0x20 || bytes[p] == 0x09) { p += 1 }
            if isNewline(p) {
                pos = p
                while let b = peek(), b == 0x20 || b == 0x09 || isNewline(pos) { pos += b == 0x0D ? 2 : 1 }
                return
            }
        }
        if isNewline(pos) { throw error("invalid escape sequence: '\\' at end of line", at: start) }
        if isControl(c) { throw error("invalid escape sequence: '\\' followed by \(describe(pos))", at: start) }
        let len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
        throw error("invalid escape sequence '\(text(start..<min(pos + len, bytes.count)))'", at: start)
    }

    private static let simpleEscapes: [UInt8: UInt8] = [
        UInt8(ascii: "b"): 0x08, UInt8(ascii: "t"): 0x09, UInt8(ascii: "n"): 0x0A,
        UInt8(ascii: "f"): 0x0C, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C,
    ]

    func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
}

// MARK: - Helpers

func isControl(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F }

func isBareKeyChar(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
    default: false
    }
}

func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

func hexDigit(_ b: UInt8) -> UInt8? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// `U+XXXX`.
func hex(_ v: UInt32) -> String {
    let digits = String(v, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// Renders a (possibly dotted) key as it could be written: bare parts as-is, others quoted.
func displayKey<S: Sequence<String>>(_ parts: S) -> String {
    parts.map { part in
        if !part.isEmpty && part.utf8.allSatisfy(isBareKeyChar) { return part }
        var quoted = "\""
        for s in part.unicodeScalars {
            switch s {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default: quoted.unicodeScalars.append(s)
            }
        }
        return quoted + "\""
    }.joined(separator: ".")
}
