#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call, with the call and the path it concerned.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var path: String
    public var errno: Int32

    public init(call: String, path: String, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// ENOENT or ENODEV: the file or its cgroup is gone (a removed cgroup's
    /// open files answer ENODEV). Normal on a live node, never an error.
    public var isVanished: Bool { errno == ENOENT || errno == ENODEV }

    public var description: String {
        "\(path): \(String(cString: strerror(errno))) (\(call))"
    }

    /// The same error, naming `path`.
    public func at(_ path: String) -> SystemError {
        var e = self
        e.path = path
        return e
    }
}

/// The one funnel for a system call's result, in the manner of swift-system's
/// `valueOrErrno(retryOnInterrupt:)`: a negative result is the errno, as a
/// `SystemError` naming the call (and `path`, built only then); EINTR is
/// retried unless the caller says otherwise (`close`, whose descriptor Linux
/// releases even then; `poll`, whose caller looks at the time again).
/// Every wrapper of this target goes through it; no other file retries EINTR.
@inlinable
public func syscall<T: FixedWidthInteger>(_ call: String, path: @autoclosure () -> String = "",
                                          retryOnInterrupt: Bool = true,
                                          _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = errno
        if e == EINTR && retryOnInterrupt { continue }
        throw SystemError(call: call, path: path(), errno: e)
    }
}
