#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CShims

/// The calls that drop a range's pages from this process's page tables:
/// the seam of `StartupPages` (tests record the calls).
public protocol PageAdvice {
    /// munlock: madvise(MADV_DONTNEED) refuses a locked range (EINVAL).
    func unlock(start: UInt64, length: UInt64) throws(SystemError)
    /// madvise(MADV_DONTNEED).
    func drop(start: UInt64, length: UInt64) throws(SystemError)
    /// mlock2(MLOCK_ONFAULT): locked again, each page as it is next used.
    func lockOnFault(start: UInt64, length: UInt64) throws(SystemError)
}

/// The kernel's.
public struct LinuxPageAdvice: PageAdvice {
    public init() {}

    public func unlock(start: UInt64, length: UInt64) throws(SystemError) {
        _ = try syscall("munlock") { munlock(UnsafeRawPointer(bitPattern: UInt(start)), Int(length)) }
    }

    public func drop(start: UInt64, length: UInt64) throws(SystemError) {
        _ = try syscall("madvise(MADV_DONTNEED)") {
            madvise(UnsafeMutableRawPointer(bitPattern: UInt(start)), Int(length), MADV_DONTNEED)
        }
    }

    public func lockOnFault(start: UInt64, length: UInt64) throws(SystemError) {
        _ = try syscall("mlock2(MLOCK_ONFAULT)") {
            cgw_mlock_onfault(UInt(start), Int(length))
        }
    }
}

/// Drops the pages a process touched while it started and may never touch
/// again: argument and configuration parsing, the loader's relocation
/// tables, code run once. The daemon locks its memory (mlockall with
/// MCL_ONFAULT), so without this every page its start touched would stay
/// resident and locked for as long as it runs: memory taken from a node
/// under pressure for nothing.
///
/// Only mappings whose pages are unmodified copies of their file are
/// dropped (`MemoryMapping.isCleanFileCopy`): the next access reads them
/// back from the page cache, and a locked range is locked again on fault,
/// so what the loop uses is back in its first rounds, and locked. Written
/// memory (heap, stacks, relocated data) is never touched.
public enum StartupPages {
    public struct Outcome: Equatable, Sendable {
        /// Mappings dropped, and their resident KiB before.
        public var mappings = 0
        public var residentKiB: UInt64 = 0
        /// The first failure, if any (the mapping it concerned stays as it was,
        /// or unlocked if only the lock could not be taken again).
        public var failure: SystemError?

        public init(mappings: Int = 0, residentKiB: UInt64 = 0, failure: SystemError? = nil) {
            self.mappings = mappings
            self.residentKiB = residentKiB
            self.failure = failure
        }
    }

    /// Drops the clean file mappings among `mappings`: each unlocked if
    /// locked, dropped, and locked on fault again.
    public static func drop(_ mappings: [MemoryMapping], advice: PageAdvice) -> Outcome {
        var outcome = Outcome()
        for m in mappings where m.isCleanFileCopy && (m.residentKiB ?? 1) > 0 {
            if dropRange(start: m.start, length: m.size, locked: m.locked, advice: advice, into: &outcome) {
                outcome.residentKiB = outcome.residentKiB.addingSaturated(m.residentKiB ?? 0)
            }
        }
        return outcome
    }

    /// One range whose pages are unmodified copies of their file: unlocked
    /// if `locked`, dropped, and locked on fault again. Whether it was
    /// dropped; the first failure goes into `outcome`.
    static func dropRange(start: UInt64, length: UInt64, locked: Bool, advice: PageAdvice, into outcome: inout Outcome) -> Bool {
        do throws(SystemError) {
            if locked { try advice.unlock(start: start, length: length) }
            defer {
                if locked {
                    do { try advice.lockOnFault(start: start, length: length) } catch {
                        if outcome.failure == nil { outcome.failure = error }
                    }
                }
            }
            try advice.drop(start: start, length: length)
            outcome.mappings += 1
            return true
        } catch {
            if outcome.failure == nil { outcome.failure = error }
            return false
        }
    }

    public enum ReadError: Error, CustomStringConvertible {
        case system(SystemError)
        case parse(ParseError)

        public var description: String {
            switch self {
            case .system(let e): return e.description
            case .parse(let e): return e.description
            }
        }
    }

    /// This process's own (`/proc/self/smaps`).
    public static func dropOwn(advice: PageAdvice = LinuxPageAdvice()) throws(ReadError) -> Outcome {
        let path = "/proc/self/smaps"
        let bytes: [UInt8]
        do throws(SystemError) {
            let fd = try Files.open(path, O_RDONLY | O_CLOEXEC)
            defer { Files.close(fd) }
            bytes = try Files.readToEnd(fd, chunk: 64 << 10, path: path)
        } catch {
            throw .system(error)
        }
        let mappings: [MemoryMapping]
        do {
            mappings = try bytes.withUnsafeBufferPointer { b throws(ParseError) in try Parse.smaps(b, file: path) }
        } catch {
            throw .parse(error)
        }
        return drop(mappings, advice: advice)
    }
}
