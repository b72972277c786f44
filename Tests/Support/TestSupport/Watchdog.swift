#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs `body`; if it has not returned after `seconds`, ends the whole test
/// process with a message naming `what`: a read that hangs (a FIFO opened
/// without O_NONBLOCK) must fail the run, not stall it forever.
public func failingIfStuck<T>(_ what: String, seconds: Int = 30, _ body: () throws -> T) rethrows -> T {
    let w = Watchdog(what: what, seconds: seconds)
    var thread = pthread_t()
    let arg = Unmanaged.passRetained(w).toOpaque()
    let rc = pthread_create(&thread, nil, { raw in
        let w = Unmanaged<Watchdog>.fromOpaque(raw!).takeRetainedValue()
        w.watch()
        return nil
    }, arg)
    precondition(rc == 0, "pthread_create failed")
    defer {
        w.done.store(true, ordering: .releasing)
        pthread_join(thread, nil)
    }
    return try body()
}

final class Watchdog: Sendable {
    let what: String
    let seconds: Int
    let done = Atomic<Bool>(false)

    init(what: String, seconds: Int) {
        self.what = what
        self.seconds = seconds
    }

    func watch() {
        for _ in 0..<(seconds * 20) {
            if done.load(ordering: .acquiring) { return }
            usleep(50_000)
        }
        let message = "FAILED: \(what) still running after \(seconds) s (stuck); ending the test process\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        _exit(70)
    }
}
