#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore

/// Where time comes from: every deadline, pause and timestamp of the I/O
/// edges reads it. The policy measures every duration on the timestamps of
/// snapshots, so tests and replays inject their own.
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

    /// A signal does not cut the sleep short.
    public func sleep(until monotonicNanos: UInt64) {
        var ts = timespec(tv_sec: Int(monotonicNanos / 1_000_000_000), tv_nsec: Int(monotonicNanos % 1_000_000_000))
        // clock_nanosleep returns the error number instead of setting errno.
        _ = try? syscall("clock_nanosleep") { () -> Int32 in
            let rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if rc == 0 { return 0 }
            errno = rc
            return -1
        }
    }

    static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A point on a clock's monotonic time to wait until.
public struct Deadline: Sendable {
    public let clock: any Clock
    /// On `clock`'s monotonic time; saturated (a deadline past 584 years waits that long).
    public let monotonicNanos: UInt64

    /// `duration` from now on `clock` (a negative duration is now).
    public init(after duration: Duration, clock: any Clock) {
        self.clock = clock
        monotonicNanos = clock.now().monotonicNanos.addingSaturated(duration.nanosecondsClamped)
    }

    public var hasPassed: Bool { clock.now().monotonicNanos >= monotonicNanos }

    /// Milliseconds left, rounded up, clamped to 0...Int32.max (for poll).
    public func millisecondsLeft() -> Int32 {
        let delta = monotonicNanos.subtractingSaturated(clock.now().monotonicNanos)
        return Int32(clamping: delta.addingSaturated(999_999) / 1_000_000)
    }
}
