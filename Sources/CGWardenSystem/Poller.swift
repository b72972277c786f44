#if canImport(Glibc)
import Glibc
#endif
import CShims

/// poll(2) over a few descriptors: the daemon sleeps here, woken by the
/// kernel (a PSI trigger's POLLPRI, inotify, a signal) or by its deadline.
public enum Poller {
    public struct Interest: Sendable {
        public var fd: Int32
        /// POLLIN, POLLPRI...
        public var events: Int16
        public init(fd: Int32, events: Int16) {
            self.fd = fd
            self.events = events
        }
    }

    /// Waits up to `milliseconds` (-1: forever) for any of `interests`; the
    /// indexes of those that are ready with what they reported. An interrupted
    /// wait (EINTR) returns no readiness: the caller looks at the time again.
    public static func wait(_ interests: [Interest], milliseconds: Int32) throws(SystemError) -> [(index: Int, revents: Int16)] {
        var fds = interests.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) }
        let n = poll(&fds, nfds_t(fds.count), milliseconds)
        if n < 0 {
            if errno == EINTR { return [] }
            throw SystemError(call: "poll", path: "", errno: errno)
        }
        return fds.enumerated().compactMap { $0.element.revents != 0 ? ($0.offset, $0.element.revents) : nil }
    }
}

/// Signals taken as descriptor events (signalfd): blocked for the process,
/// read in the loop, never as asynchronous handlers.
public final class SignalSource {
    public let fd: Int32

    /// Blocks `signals` in this thread (threads created later inherit the
    /// mask) and opens a descriptor that reads them.
    public init(_ signals: [Int32]) throws(SystemError) {
        fd = try syscall("signalfd") { cgw_signalfd(signals, Int32(signals.count)) }
    }

    deinit { close(fd) }

    /// The signals pending, in order (empty when none).
    public func read() -> [Int32] {
        var out: [Int32] = []
        while true {
            let s = cgw_signalfd_next(fd)
            if s == 0 { return out }
            out.append(s)
        }
    }
}

/// inotify(7) on single files: `IN_MODIFY` fires on cgroupfs files the kernel
/// notifies about (`memory.events`, `memory.events.local`, `cgroup.events`:
/// kernfs_notify when a counter or `populated` changes).
public final class FileModificationWatch {
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try syscall("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
    }

    deinit { close(fd) }

    /// Watches the file at `path` (its bytes: a cgroup's names need not be UTF-8); its watch id.
    public func watch(path: [UInt8]) throws(SystemError) -> Int32 {
        let c = path.map { CChar(bitPattern: $0) } + [0]
        return try syscall("inotify_add_watch") { inotify_add_watch(fd, c, UInt32(IN_MODIFY)) }
    }

    /// Watches the file `name` in the directory open at `dir`; its watch id.
    public func watch(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        // inotify takes a path: the directory's magic link names exactly the
        // group already open, whatever happened to its path since.
        let path = "/proc/self/fd/\(dir)/\(name)"
        return try syscall("inotify_add_watch", path: name) { inotify_add_watch(fd, path, UInt32(IN_MODIFY)) }
    }

    public func unwatch(_ watch: Int32) { _ = inotify_rm_watch(fd, watch) }

    /// The watches that reported a change since the last call; `overflow`
    /// when events were lost (then every file may have changed).
    public func changes() -> (watches: Set<Int32>, overflow: Bool) {
        var changed = Set<Int32>()
        var overflow = false
        let size = 16 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer, size)
            if n <= 0 { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                if event.mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true }
                if event.mask & UInt32(IN_MODIFY) != 0 { changed.insert(event.wd) }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
        return (changed, overflow)
    }
}

/// A PSI trigger (Documentation/accounting/psi.rst): `some|full STALL WINDOW`
/// written to an open pressure file arms it; the kernel then reports
/// POLLPRI on that descriptor at most once per window while stalls within
/// the window exceed STALL. The trigger lives as long as the descriptor.
public enum PressureTrigger {
    /// The shortest and longest windows the kernel accepts, in microseconds.
    public static let minimumWindowMicros: UInt32 = 500_000
    public static let maximumWindowMicros: UInt32 = 10_000_000
    /// Without CAP_SYS_RESOURCE a window must be a multiple of this (2 s):
    /// unprivileged triggers may not make the kernel poll faster than PSI's averaging.
    public static let unprivilegedWindowStepMicros: UInt32 = 2_000_000

    /// The text the kernel reads, e.g. `some 150000 1000000`.
    public static func text(full: Bool, stallMicros: UInt32, windowMicros: UInt32) -> String {
        "\(full ? "full" : "some") \(stallMicros) \(windowMicros)"
    }

    /// Opens `path` (a pressure file) and arms a trigger on it: the
    /// descriptor to poll for POLLPRI (the caller closes it).
    public static func arm(path: String, full: Bool, stallMicros: UInt32, windowMicros: UInt32) throws(SystemError) -> Int32 {
        let fd = try syscall("open", path: path) { open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        do {
            try arm(fd, full: full, stallMicros: stallMicros, windowMicros: windowMicros, path: path)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Arms a trigger on an already open pressure file.
    public static func arm(_ fd: Int32, full: Bool, stallMicros: UInt32, windowMicros: UInt32, path: String = "") throws(SystemError) {
        var t = text(full: full, stallMicros: stallMicros, windowMicros: windowMicros)
        // The kernel wants the terminating NUL in the write.
        let n = t.withUTF8 { b in
            var z = Array(b)
            z.append(0)
            return z.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
        if n < 0 { throw SystemError(call: "write \(t)", path: path, errno: errno) }
    }
}
