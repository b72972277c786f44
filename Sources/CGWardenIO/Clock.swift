#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore

/// Where time comes from. The policy measures every duration on the
/// timestamps of snapshots, so tests and replays inject their own.
public protocol Clock: Sendable {
    func now() -> Timestamp
}

/// CLOCK_MONOTONIC for durations, CLOCK_REALTIME for display.
public struct SystemClock: Clock {
    public init() {}

    public func now() -> Timestamp {
        Timestamp(monotonicNanos: SystemClock.read(CLOCK_MONOTONIC), wallNanos: SystemClock.read(CLOCK_REALTIME))
    }

    static func read(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
