import CGWardenCore
import CGWardenSystem

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
        Timestamp(monotonicNanos: Time.monotonicNanos(), wallNanos: Time.realtimeNanos())
    }

    public func sleep(until monotonicNanos: UInt64) {
        Time.sleep(untilMonotonicNanos: monotonicNanos)
    }
}
