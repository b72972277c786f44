#if canImport(Glibc)
import Glibc
#endif

/// The kernel's clocks, read and slept on.
public enum Time {
    /// CLOCK_MONOTONIC in nanoseconds: durations are measured on it.
    public static func monotonicNanos() -> UInt64 { read(CLOCK_MONOTONIC) }

    /// CLOCK_REALTIME in nanoseconds since the epoch: only for display and records.
    public static func realtimeNanos() -> UInt64 { read(CLOCK_REALTIME) }

    static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps until CLOCK_MONOTONIC reads `monotonicNanos` (at once if past);
    /// a signal does not cut it short.
    public static func sleep(untilMonotonicNanos monotonicNanos: UInt64) {
        var ts = timespec(tv_sec: Int(monotonicNanos / 1_000_000_000), tv_nsec: Int(monotonicNanos % 1_000_000_000))
        // clock_nanosleep returns the error number instead of setting errno.
        _ = try? syscall("clock_nanosleep") { () -> Int32 in
            let rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if rc == 0 { return 0 }
            errno = rc
            return -1
        }
    }

    /// Sleeps `nanoseconds` (`nanosleep`); after a signal, the time left
    /// unless `retryOnInterrupt` is false (then it returns early).
    public static func sleep(nanoseconds: Int64, retryOnInterrupt: Bool = true) {
        guard nanoseconds > 0 else { return }
        var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var rest = timespec()
        _ = try? syscall("nanosleep", retryOnInterrupt: retryOnInterrupt) { () -> Int32 in
            let rc = nanosleep(&ts, &rest)
            if rc != 0 { ts = rest }
            return rc
        }
    }
}
