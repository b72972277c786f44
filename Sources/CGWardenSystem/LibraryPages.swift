#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CShims

/// The code and constants of one loaded library, dropped from this process
/// after each use: for a library the daemon runs now and then on a thread
/// of its own (SQLite, in the store's writer: a commit at most once a
/// second, a prune once a minute), so that its pages are not held resident
/// and locked between two uses. What the next use touches comes back from
/// the page cache (minor faults, no disk read while the file's pages stay
/// cached) and is locked again as it does.
///
/// The ranges come from the loader (dl_iterate_phdr), not from
/// `/proc/self/smaps`: finding them opens no file, and they are found once.
/// Only loadable segments the program cannot write are taken (`.text`,
/// `.rodata`): they are never relocated, so their pages are always the
/// file's bytes; an object with text relocations is refused.
public struct LibraryPages: Sendable {
    public struct Range: Equatable, Sendable {
        public var start: UInt64
        public var length: UInt64
    }

    /// The object's name as the loader has it (a path; empty for the executable).
    public let object: String
    public let ranges: [Range]
    /// Whether this process locked its memory (mlockall): each range is then
    /// unlocked before the drop and locked on fault after it.
    public let locked: Bool

    /// The most read-only segments an object has (a linker makes two to four).
    static let maximumSegments = 16

    public enum LookupError: Error, Equatable, CustomStringConvertible {
        case noObject
        case textRelocations(String)
        public var description: String {
            switch self {
            case .noObject: return "no loaded object holds the address"
            case .textRelocations(let o): return "\(o) has text relocations: its read-only pages were written"
            }
        }
    }

    /// The read-only segments of the object that holds `address`.
    public init(containing address: UnsafeRawPointer, locked: Bool) throws(LookupError) {
        var name = [CChar](repeating: 0, count: 4096)
        var starts = [UInt](repeating: 0, count: LibraryPages.maximumSegments)
        var lengths = [Int](repeating: 0, count: LibraryPages.maximumSegments)
        let n = cgw_readonly_segments(address, &name, name.count, &starts, &lengths, Int32(LibraryPages.maximumSegments))
        let object = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if n == -2 { throw .textRelocations(object) }
        guard n >= 0 else { throw .noObject }
        self.object = object
        self.ranges = (0..<Int(n)).map { Range(start: UInt64(starts[$0]), length: UInt64(lengths[$0])) }
        self.locked = locked
    }

    init(object: String, ranges: [Range], locked: Bool) {
        self.object = object
        self.ranges = ranges
        self.locked = locked
    }

    /// Drops every range (`StartupPages.Outcome.residentKiB` stays 0: the
    /// loader does not say what was resident).
    public func drop(advice: PageAdvice = LinuxPageAdvice()) -> StartupPages.Outcome {
        var outcome = StartupPages.Outcome()
        for r in ranges {
            _ = StartupPages.dropRange(start: r.start, length: r.length, locked: locked, advice: advice, into: &outcome)
        }
        return outcome
    }
}
