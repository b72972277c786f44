/// What was wrong with the text of a kernel file.
///
/// Every parser in the core throws this; the I/O layer wraps it with the
/// cgroup it was reading, so an operator sees e.g.
/// `/tenants.slice/memory.events line 4: value of 'oom' is not a number: "x1"`.
public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The file was empty where the kernel always writes something.
        case empty
        /// A number field held something else (the offending text is kept).
        case notANumber(String)
        /// A negative number where the kernel only writes unsigned values.
        case negative(String)
        /// A number too large for 64 bits.
        case overflow(String)
        /// A line did not have the expected shape.
        case malformedLine(String)
        /// A key the kernel always writes was missing (truncated file).
        case missingKey(String)
        /// The same key twice.
        case duplicateKey(String)
    }

    /// The kernel file, as named to an operator (`memory.events`, `/proc/meminfo`).
    public var file: String
    /// 1-based line number, where the problem is on one line.
    public var line: Int?
    /// The key or field the value belonged to, where there is one.
    public var field: String?
    public var reason: Reason

    public init(file: String, line: Int? = nil, field: String? = nil, reason: Reason) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var s = file
        if let line { s += " line \(line)" }
        s += ": "
        // Text from the file is shown escaped as names are: a fixture or a
        // forged file must not write to an operator's terminal.
        let what = field.map { "value of '\(PathText.escape($0))'" } ?? "value"
        switch reason {
        case .empty: s += "file is empty"
        case .notANumber(let t): s += "\(what) is not a number: \(quoted(t))"
        case .negative(let t): s += "\(what) is negative: \(quoted(t))"
        case .overflow(let t): s += "\(what) does not fit in 64 bits: \(quoted(t))"
        case .malformedLine(let t): s += "malformed line: \(quoted(t))"
        case .missingKey(let k): s += "missing key '\(PathText.escape(k))' (truncated file?)"
        case .duplicateKey(let k): s += "key '\(PathText.escape(k))' appears twice"
        }
        return s
    }

    private func quoted(_ t: String) -> String {
        let bytes = Array(t.utf8)
        return "\"" + PathText.escape(bytes.prefix(40)) + (bytes.count > 40 ? "…" : "") + "\""
    }
}
