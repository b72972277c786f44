#if canImport(Glibc)
import Glibc
#endif

/// /dev/kmsg, read a record at a time without blocking: the kernel's OOM
/// killer reports there which task it killed, and how much it held.
///
/// Opened at the end (SEEK_END): kills from before the start are in the
/// counters' baseline, not new events. From then on each `read` returns the
/// next record, so the reader goes on from the last one it read; after a
/// restart of the guard, from the end again (records written in between
/// are not read: the counters still show those kills, without their task).
/// Opening needs CAP_SYSLOG when kernel.dmesg_restrict is 1 (Debian's
/// default): opened as root before the drop; the descriptor keeps reading.
public final class KernelLog {
    public let fd: Int32
    public let path: String
    /// CONSOLE_EXT_LOG_MAX (8 KiB) is the longest record a read returns; a
    /// smaller buffer makes the read fail with EINVAL.
    public static let bufferSize = 16 * 1024
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: KernelLog.bufferSize, alignment: 8)

    public init(path: String = "/dev/kmsg") throws(SystemError) {
        self.path = path
        fd = try Files.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        do {
            _ = try syscall("lseek", path: path) { lseek(fd, 0, SEEK_END) }
        } catch {
            Files.close(fd)
            throw error
        }
    }

    deinit {
        Files.close(fd)
        buffer.deallocate()
    }

    /// What one `read(limit:)` saw besides its records.
    public struct Outcome: Equatable, Sendable {
        /// Records read.
        public var records = 0
        /// EPIPE: records were overwritten before they were read (the ring
        /// buffer wrapped); the kernel moved on to the oldest one left.
        public var overwritten = 0
        /// Stopped at `limit` with records left (POLLIN stays set).
        public var more = false
        /// A failure other than EAGAIN and EPIPE; reading stopped.
        public var error: SystemError?
    }

    /// Reads records until none is left (EAGAIN) or `limit` were read;
    /// `body` gets each record's bytes (valid during the call).
    public func read(limit: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Outcome {
        var outcome = Outcome()
        while outcome.records < limit {
            let n: Int
            do {
                n = try Files.read(fd, into: buffer, path: path)
            } catch where error.errno == EAGAIN {
                return outcome
            } catch where error.errno == EPIPE {
                outcome.overwritten += 1
                continue
            } catch {
                outcome.error = error
                return outcome
            }
            if n == 0 { return outcome }
            outcome.records += 1
            body(UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n))
        }
        outcome.more = true
        return outcome
    }
}
