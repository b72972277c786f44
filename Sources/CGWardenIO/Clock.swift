#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore

/// Where time comes from. The policy measures every duration on the
/// timestamps of snapshots, so tests and replays inject their own.
public protocol Clock: Sendable {
    func now() -> Timestamp
    /// Waits until the monotonic clock reads `monotonicNanos` (or returns at once if past).
    func sleep(until monotonicNanos: UInt64)
}

/// CLOCK_MONOTONIC for durations, CLOCK_REALTIME for display.
public struct SystemClock: Clock {
    public init() {}

    public func now() -> Timestamp {
        Timestamp(monotonicNanos: SystemClock.read(CLOCK_MONOTONIC), wallNanos: SystemClock.read(CLOCK_REALTIME))
    }

    public func sleep(until monotonicNanos: UInt64) {
        var ts = timespec(tv_sec: Int(monotonicNanos / 1_000_000_000), tv_nsec: Int(monotonicNanos % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
