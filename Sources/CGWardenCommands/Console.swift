import CGWardenSystem

/// Where a command writes: standard output and error, or buffers in tests.
public final class Console: @unchecked Sendable {
    private let writeOut: (String) -> Void
    private let writeErr: (String) -> Void

    public init(out: @escaping (String) -> Void, err: @escaping (String) -> Void) {
        writeOut = out
        writeErr = err
    }

    /// Writes straight to descriptors 1 and 2 (no stdio buffering to flush,
    /// nothing lost if the process is killed after a line was written).
    public static let standard = Console(out: { Console.writeAll(1, $0) }, err: { Console.writeAll(2, $0) })

    public func out(_ s: String) { writeOut(s) }
    /// One line on standard output.
    public func line(_ s: String = "") { writeOut(s + "\n") }
    /// One line on standard error.
    public func error(_ s: String) { writeErr(s + "\n") }

    static func writeAll(_ fd: Int32, _ s: String) {
        try? Files.writeAll(fd, s)
    }
}

/// A console that keeps what was written, for tests.
public final class CapturedConsole: @unchecked Sendable {
    public private(set) var stdout = ""
    public private(set) var stderr = ""
    public init() {}
    public var console: Console {
        Console(out: { [unowned self] in self.stdout += $0 }, err: { [unowned self] in self.stderr += $0 })
    }
}
