import CGWardenCore

/// One reusable buffer for reading whole control files: no allocation per
/// file on the hot path.
final class ReadBuffer {
    private var storage: UnsafeMutableRawBufferPointer

    /// 16 KiB holds every memory file; `cgroup.procs` of a big group grows it.
    init(capacity: Int = 16 * 1024) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    /// Reads the whole file from offset 0 with one `pread`. If the file fills
    /// the buffer, the buffer doubles and the file is read again from the
    /// start, so that the bytes returned always come from one read.
    func read(_ fd: Int32, fs: FileSystem) throws(SystemError) -> Bytes {
        while true {
            let n = try fs.pread(fd, into: storage, offset: 0)
            if n < storage.count {
                return Bytes(start: storage.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
            }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: storage.count * 2, alignment: 8)
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
