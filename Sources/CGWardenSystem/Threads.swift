#if canImport(Glibc)
import Glibc
#endif

/// The daemon's few threads (the kill worker, the store's writer, the
/// metrics endpoint, a flight recording's writer): `pthread_create` with
/// `body` kept alive until it returns.
public enum Threads {
    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread; join or detach the result.
    public static func start(_ body: @escaping () -> Void) throws(SystemError) -> pthread_t {
        let box = Unmanaged.passRetained(Body(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            throw SystemError(call: "pthread_create", path: "", errno: rc)
        }
        return thread
    }
}
