/// The recording format of `cgwarden record` (Docs/recording.md): JSON
/// lines. The first line is a header, every other line one snapshot:
///
///     {"cgwarden_recording": 1, "root": "/sys/fs/cgroup", "interval_ns": 1000000000}
///     {"time": {"monotonic_ns": ..., "wall_ns": ...}, "root": ..., "system": {...}, "cgroups": [...]}
public enum Recording {
    public static let version: UInt64 = 1

    public static func header(root: String, intervalNanos: UInt64) -> JSON {
        .object([("cgwarden_recording", .uint(version)), ("root", .string(root)), ("interval_ns", .uint(intervalNanos))])
    }

    public struct Contents: Sendable {
        public var root: String
        public var intervalNanos: UInt64
        public var snapshots: [Snapshot]
        /// A last line cut short (the recorder was killed while writing): skipped.
        public var truncatedTail: Bool
    }

    public struct ReadError: Error, Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a whole recording; any bad line but a cut-short last one is an error.
    public static func parse(_ text: String) throws(ReadError) -> Contents {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let endsWithNewline = lines.last == ""
        if endsWithNewline { lines.removeLast() }
        guard let first = lines.first, !first.isEmpty else { throw ReadError(line: 1, message: "empty recording") }
        let header: JSON
        do { header = try JSON.parse(first) } catch { throw ReadError(line: 1, message: "not JSON: \(error)") }
        guard let v = header["cgwarden_recording"]?.uint64Value else {
            throw ReadError(line: 1, message: "not a cgwarden recording (no \"cgwarden_recording\" header)")
        }
        guard v == version else { throw ReadError(line: 1, message: "recording format \(v); this cgwarden reads format \(version)") }
        var contents = Contents(root: header["root"]?.stringValue ?? "", intervalNanos: header["interval_ns"]?.uint64Value ?? 0,
                                snapshots: [], truncatedTail: false)
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let json: JSON
            do {
                json = try JSON.parse(line)
            } catch {
                if i == lines.count - 1 && !endsWithNewline {
                    contents.truncatedTail = true
                    break
                }
                throw ReadError(line: i + 1, message: "not JSON: \(error)")
            }
            do {
                let s = try Snapshot(json: json)
                if let last = contents.snapshots.last, s.time.monotonicNanos < last.time.monotonicNanos {
                    throw ReadError(line: i + 1, message: "time goes backwards (monotonic_ns \(s.time.monotonicNanos) after \(last.time.monotonicNanos))")
                }
                contents.snapshots.append(s)
            } catch let e as ReadError {
                throw e
            } catch {
                throw ReadError(line: i + 1, message: "\(error)")
            }
        }
        return contents
    }
}
