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
        do {
            _ = try syscall("poll", retryOnInterrupt: false) { poll(&fds, nfds_t(fds.count), milliseconds) }
        } catch where error.errno == EINTR {
            return []
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

    deinit { Files.close(fd) }

    /// The signals pending, in order (empty when none).
    public func read() -> [Int32] {
        var out: [Int32] = []
        // EAGAIN (none pending) ends it too.
        while let s = try? syscall("read", { cgw_signalfd_next(fd) }), s != 0 {
            out.append(s)
        }
        return out
    }
}

/// inotify(7) on single files: `IN_MODIFY` fires on cgroupfs files the kernel
/// notifies about (`memory.events`, `memory.events.local`, `cgroup.events`:
/// kernfs_notify when a counter or `populated` changes).
public final class FileModificationWatch {
    private let inotify: Inotify
    public var fd: Int32 { inotify.fd }

    public init() throws(SystemError) {
        inotify = try Inotify()
    }

    /// Watches the file at `path` (its bytes: a cgroup's names need not be UTF-8); its watch id.
    public func watch(path: [UInt8]) throws(SystemError) -> Int32 {
        try inotify.add(path: path, mask: UInt32(IN_MODIFY))
    }

    /// Watches the file `name` in the directory open at `dir`; its watch id.
    public func watch(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        // inotify takes a path: the directory's magic link names exactly the
        // group already open, whatever happened to its path since.
        try inotify.add("/proc/self/fd/\(dir)/\(name)", mask: UInt32(IN_MODIFY), name: name)
    }

    public func unwatch(_ watch: Int32) { inotify.remove(watch) }

    /// The watches that reported a change since the last call; `overflow`
    /// when events were lost (then every file may have changed).
    public func changes() -> (watches: Set<Int32>, overflow: Bool) {
        var changed = Set<Int32>()
        var overflow = false
        inotify.drain(bufferSize: 16 * 1024) { watch, mask in
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true }
            if mask & UInt32(IN_MODIFY) != 0 { changed.insert(watch) }
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
        let fd = try Files.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        do {
            try arm(fd, full: full, stallMicros: stallMicros, windowMicros: windowMicros, path: path)
        } catch {
            Files.close(fd)
            throw error
        }
        return fd
    }

    /// Arms a trigger on an already open pressure file.
    public static func arm(_ fd: Int32, full: Bool, stallMicros: UInt32, windowMicros: UInt32, path: String = "") throws(SystemError) {
        let t = text(full: full, stallMicros: stallMicros, windowMicros: windowMicros)
        // The kernel wants the terminating NUL in the write.
        var z = Array(t.utf8)
        z.append(0)
        do {
            try Files.write(fd, z)
        } catch {
            throw SystemError(call: "write \(t)", path: path, errno: error.errno)
        }
    }
}
