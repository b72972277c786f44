#if canImport(Glibc)
import Glibc
#endif

/// How large a control file may be before it is refused unread.
public enum ControlFileSize {
    /// 32 MiB. The largest legitimate file is `cgroup.procs` (or
    /// `cgroup.threads`) of a group holding every possible task: the kernel
    /// allows at most PID_MAX_LIMIT = 2^22 pids on 64-bit, and the list of
    /// 1...4194303, one per line, is 32,443,320 bytes (the /proc and memory
    /// files are a few KiB). A file of this size or more is no control file
    /// (a /dev/zero or a huge file in a fixture tree): reading it whole
    /// would grow the buffer without end.
    public static let maximum = 32 << 20

    /// The error of a file that reached `maximum`: EFBIG, naming the bound.
    public static func tooLarge() -> SystemError {
        SystemError(call: "read, \(maximum >> 20) MiB or more", path: "", errno: EFBIG)
    }

    /// The next buffer size after a read filled `current` bytes, or nil when
    /// `current` is already the maximum.
    public static func grown(from current: Int) -> Int? {
        current >= maximum ? nil : min(current * 2, maximum)
    }
}

/// One reusable buffer for reading whole control files: no allocation per
/// file on the hot path. The read side (`FileSystem`) and the kill helper
/// (`HelperFileSystem`) both read through one.
public final class ReadBuffer {
    private var storage: UnsafeMutableRawBufferPointer

    /// 16 KiB holds every memory file; `cgroup.procs` of a big group grows it
    /// (up to `ControlFileSize.maximum`).
    public init(capacity: Int = 16 * 1024) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    /// Reads a whole file with `readFromStart`, one `pread` at offset 0 into
    /// the buffer it is given. If the file fills the buffer, the buffer
    /// doubles and the file is read again from the start, so that the bytes
    /// returned always come from one read. A file that fills a buffer of
    /// `ControlFileSize.maximum` is refused (EFBIG). The bytes are valid
    /// until the next read.
    public func read(_ readFromStart: (UnsafeMutableRawBufferPointer) throws(SystemError) -> Int)
        throws(SystemError) -> UnsafeBufferPointer<UInt8>
    {
        while true {
            let n = try readFromStart(storage)
            if n < storage.count {
                return UnsafeBufferPointer(start: storage.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
            }
            guard let size = ControlFileSize.grown(from: storage.count) else { throw ControlFileSize.tooLarge() }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
            storage.deallocate()
            storage = bigger
        }
    }
}
