/// Why a text or a request names no cgroup beneath the root.
public enum PathProblem: UInt8, Error, Equatable, Sendable, CustomStringConvertible {
    /// Starts with `/` (a request), or `//` (an operator's path): resolved
    /// from the file-system root, it would escape.
    case absolute = 1
    case nul = 2
    /// `a//b` or a trailing `/`.
    case emptyComponent = 3
    case dot = 4
    /// `..`: a way up and out.
    case dotDot = 5
    /// A name longer than NAME_MAX (255 bytes).
    case componentTooLong = 6
    /// PATH_MAX (4096 bytes, with the NUL) or longer.
    case tooLong = 7
    /// A `\` that starts neither `\\` nor `\xNN`, or an escape that makes a `/`.
    case badEscape = 8

    public var description: String {
        switch self {
        case .absolute: return "an absolute path (it must be relative to the cgroup root)"
        case .nul: return "the path holds a NUL byte"
        case .emptyComponent: return "the path has an empty name ('//' or a trailing '/')"
        case .dot: return "the path has a '.' component"
        case .dotDot: return "the path has a '..' component"
        case .componentTooLong: return "a name is longer than 255 bytes"
        case .tooLong: return "the path is 4096 bytes or longer"
        case .badEscape: return "a '\\' must start '\\\\' or '\\xNN' (two hex digits, not 2f)"
        }
    }
}

/// The one text form of cgroup names and paths: what every report prints
/// and what the command line and the recordings read back, byte-exact.
///
/// A name is shown as it is where that is safe for a terminal and
/// unambiguous; otherwise byte by byte as `\xNN`:
/// - bytes that are not valid UTF-8;
/// - control characters (C0, DEL, C1): a tenant could otherwise write escape
///   sequences into an operator's terminal, or break a table row;
/// - format characters (zero-width joiners, bidirectional overrides), line and
///   paragraph separators, spaces other than U+0020, private-use and
///   unassigned code points: invisible, or not what they look like;
/// - a combining mark that does not follow a shown character (at the start
///   of a name it would merge with the `/` before it).
/// A backslash is `\\`.
public enum PathText {
    /// Linux NAME_MAX.
    public static let maxComponentLength = 255
    /// Linux PATH_MAX counts the terminating NUL: a path is at most 4095 bytes.
    public static let maxLength = 4095

    static let backslash = UInt8(ascii: "\\")

    /// `bytes` (one name, or names joined by `/`) in the escaped text form.
    public static func escape(_ bytes: ArraySlice<UInt8>) -> String {
        var out = String.UnicodeScalarView()
        // Whether a combining mark here would attach to a character that is
        // shown as itself (not to a `/`, an escape, or nothing).
        var afterBase = false
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b < 0x80 {
                if b == CgroupPath.slash {
                    out.append("/")
                    afterBase = false
                } else if b == backslash {
                    out.append("\\"); out.append("\\")
                    afterBase = false
                } else if b >= 0x20 && b < 0x7F {
                    out.append(Unicode.Scalar(b))
                    afterBase = true
                } else {
                    appendHex(b, to: &out)
                    afterBase = false
                }
                i += 1
                continue
            }
            if let (scalar, length) = decodeScalar(bytes, at: i), isShowable(scalar, afterBase: afterBase) {
                out.append(scalar)
                afterBase = true
                i += length
            } else {
                // One byte at a time: an invalid sequence resynchronises at the next byte.
                let length = decodeScalar(bytes, at: i)?.1 ?? 1
                for k in i..<(i + length) { appendHex(bytes[k], to: &out) }
                afterBase = false
                i += length
            }
        }
        return String(out)
    }

    /// Any text read from a tenant's files (a process name, an attribute)
    /// made safe for a terminal the same way.
    public static func escape(_ text: String) -> String {
        escape(Array(text.utf8)[...])
    }

    /// Parses an operator's path: one leading `/` stands for the cgroup root
    /// (`/`, `/a/b`; `a/b` is the same), one trailing `/` is ignored, and each
    /// name is in the escaped form `escape` prints (`\\`, `\xNN`). Exactly
    /// what `CgroupPath.description` prints is accepted back.
    public static func parse(_ text: String) -> Result<CgroupPath, PathProblem> {
        var t = Array(text.utf8)[...]
        if t.first == CgroupPath.slash { t = t.dropFirst() }
        if t.last == CgroupPath.slash { t = t.dropLast() }
        if t.isEmpty { return .success(.root) }
        if t.first == CgroupPath.slash { return .failure(.absolute) }
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        for (n, part) in t.split(separator: CgroupPath.slash, omittingEmptySubsequences: false).enumerated() {
            guard let name = unescape(part) else { return .failure(.badEscape) }
            if let problem = check(name[...]) { return .failure(problem) }
            if n > 0 { out.append(CgroupPath.slash) }
            out += name
            if out.count > maxLength { return .failure(.tooLong) }
        }
        return .success(CgroupPath(unchecked: out))
    }

    /// What is wrong with one raw name, or nil.
    static func check(_ name: ArraySlice<UInt8>) -> PathProblem? {
        if name.isEmpty { return .emptyComponent }
        if name.count > maxComponentLength { return .componentTooLong }
        if name.contains(0) { return .nul }
        if name.elementsEqual(".".utf8) { return .dot }
        if name.elementsEqual("..".utf8) { return .dotDot }
        return nil
    }

    /// The raw bytes of one escaped name; nil on a bad escape (or one that
    /// makes a `/`, which no name holds).
    static func unescape(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = text.startIndex
        while i < text.endIndex {
            let b = text[i]
            guard b == backslash else { out.append(b); i += 1; continue }
            guard let (value, length) = escapeAt(text, i), value != CgroupPath.slash else { return nil }
            out.append(value)
            i += length
        }
        return out
    }

    /// The byte of the escape `\\` or `\xNN` at `i` and its length in text.
    static func escapeAt(_ text: ArraySlice<UInt8>, _ i: Int) -> (UInt8, Int)? {
        guard i + 1 < text.endIndex else { return nil }
        if text[i + 1] == backslash { return (backslash, 2) }
        guard text[i + 1] == UInt8(ascii: "x"), i + 3 < text.endIndex,
              let hi = hexValue(text[i + 2]), let lo = hexValue(text[i + 3]) else { return nil }
        return (hi << 4 | lo, 4)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func appendHex(_ b: UInt8, to out: inout String.UnicodeScalarView) {
        let digits: [Unicode.Scalar] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        out.append("\\"); out.append("x")
        out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)])
    }

    /// A well-formed UTF-8 sequence at `i` (no overlong forms, surrogates or
    /// values past U+10FFFF) and its length; nil when the bytes are not one.
    static func decodeScalar(_ b: ArraySlice<UInt8>, at i: Int) -> (Unicode.Scalar, Int)? {
        let lead = b[i]
        let length: Int, initial: UInt32, minimum: UInt32
        switch lead {
        case 0xC2...0xDF: (length, initial, minimum) = (2, UInt32(lead & 0x1F), 0x80)
        case 0xE0...0xEF: (length, initial, minimum) = (3, UInt32(lead & 0x0F), 0x800)
        case 0xF0...0xF4: (length, initial, minimum) = (4, UInt32(lead & 0x07), 0x10000)
        default: return nil
        }
        guard i + length <= b.endIndex else { return nil }
        var value = initial
        for k in 1..<length {
            let c = b[i + k]
            guard c & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(c & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    static func isShowable(_ s: Unicode.Scalar, afterBase: Bool) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator,
             .privateUse, .surrogate, .unassigned:
            return false
        case .nonspacingMark, .spacingMark, .enclosingMark:
            return afterBase
        default:
            return true
        }
    }
}
