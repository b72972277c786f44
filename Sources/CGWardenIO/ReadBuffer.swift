#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

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
/// file on the hot path.
final class ReadBuffer {
    private var storage: UnsafeMutableRawBufferPointer

    /// 16 KiB holds every memory file; `cgroup.procs` of a big group grows it
    /// (up to `ControlFileSize.maximum`).
    init(capacity: Int = 16 * 1024) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    /// Reads the whole file from offset 0 with one `pread`. If the file fills
    /// the buffer, the buffer doubles and the file is read again from the
    /// start, so that the bytes returned always come from one read. A file
    /// that fills a buffer of `ControlFileSize.maximum` is refused (EFBIG).
    func read(_ fd: Int32, fs: FileSystem) throws(SystemError) -> Bytes {
        while true {
            let n = try fs.pread(fd, into: storage, offset: 0)
            if n < storage.count {
                return Bytes(start: storage.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
            }
            guard let size = ControlFileSize.grown(from: storage.count) else { throw ControlFileSize.tooLarge() }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
            storage.deallocate()
            storage = bigger
        }
    }

    /// Opens `name` below `dir`, reads it whole and closes it.
    func readFile(_ name: String, in dir: Int32, fs: FileSystem) throws(SystemError) -> Bytes {
        let fd = try fs.openFile(name, in: dir)
        defer { fs.close(fd) }
        return try read(fd, fs: fs)
    }
}
