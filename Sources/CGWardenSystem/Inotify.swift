#if canImport(Glibc)
import Glibc
#endif

/// An inotify(7) instance, non-blocking and close-on-exec: the raw calls of
/// `FileModificationWatch` (files) and the read side's directory watcher.
public final class Inotify {
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try syscall("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
    }

    deinit { Files.close(fd) }

    /// `inotify_add_watch(path, mask)`: the watch id; the error names `name`.
    public func add(_ path: String, mask: UInt32, name: @autoclosure () -> String = "") throws(SystemError) -> Int32 {
        try syscall("inotify_add_watch", path: name()) { inotify_add_watch(fd, path, mask) }
    }

    /// As `add`, with a path of any bytes (a cgroup's names need not be UTF-8).
    public func add(path: [UInt8], mask: UInt32) throws(SystemError) -> Int32 {
        let c = path.map { CChar(bitPattern: $0) } + [0]
        return try syscall("inotify_add_watch") { inotify_add_watch(fd, c, mask) }
    }

    public func remove(_ watch: Int32) { _ = inotify_rm_watch(fd, watch) }

    /// Reads every pending event, `bufferSize` bytes at a time, until none is
    /// left: `body` gets each event's watch and mask.
    public func drain(bufferSize: Int, _ body: (_ watch: Int32, _ mask: UInt32) -> Void) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            // EAGAIN: drained.
            guard let n = try? Files.read(fd, into: buffer), n > 0 else { return }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                body(event.wd, event.mask)
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
    }
}
