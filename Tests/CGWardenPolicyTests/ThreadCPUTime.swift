#if canImport(Glibc)
import Glibc
#endif

/// The CPU time this thread spends in `body`: the bounds against quadratic
/// parsing hold on a loaded machine, where wall time counts everyone else.
func threadCPUTime(_ body: () throws -> Void) rethrows -> Duration {
    var start = timespec(), end = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start); try body(); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
    return .seconds(end.tv_sec - start.tv_sec) + .nanoseconds(end.tv_nsec - start.tv_nsec)
}
