#if canImport(Glibc)
import Glibc
#endif

/// Tells which directories gained or lost entries since the last look, so
/// that repeated snapshots list only those (a cgroup directory lists ~50
/// control files per child; listing all of them every interval costs as
/// much as reading a quarter of the group's files).
public protocol DirectoryWatcher: AnyObject {
    /// Starts watching the directory open at `dir`; nil when the kernel
    /// refuses (e.g. `fs.inotify.max_user_watches` reached): that directory
    /// is then simply listed every time.
    func watch(_ dir: Int32) -> Int32?
    func unwatch(_ watch: Int32)
    /// The watches that saw a child created, removed or renamed since the
    /// last call; `all` when events were lost (queue overflow).
    func changes() -> (watches: Set<Int32>, all: Bool)
}

/// inotify(7) on the directories: `IN_CREATE | IN_DELETE | IN_MOVED_*` fire on
/// cgroupfs for `mkdir`/`rmdir` of child groups (checked on the test kernel).
public final class InotifyWatcher: DirectoryWatcher {
    private let fd: Int32

    /// nil when inotify is unavailable.
    public init?() {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    static let events = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

    public func watch(_ dir: Int32) -> Int32? {
        // inotify takes a path; the descriptor's magic link names exactly the
        // directory already open, whatever happened to its path since.
        let wd = inotify_add_watch(fd, "/proc/self/fd/\(dir)", InotifyWatcher.events | UInt32(IN_ONLYDIR))
        return wd >= 0 ? wd : nil
    }

    public func unwatch(_ watch: Int32) {
        _ = inotify_rm_watch(fd, watch)
    }

    public func changes() -> (watches: Set<Int32>, all: Bool) {
        var changed = Set<Int32>()
        var all = false
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, size)
            if n <= 0 { break }   // EAGAIN: drained
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                if event.mask & UInt32(IN_Q_OVERFLOW) != 0 { all = true }
                if event.mask & InotifyWatcher.events != 0 { changed.insert(event.wd) }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
        return (changed, all)
    }
}
