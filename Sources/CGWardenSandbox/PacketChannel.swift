#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// Why a ``PacketChannel`` or ``HelperProcess`` operation failed.
public enum ChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(SystemError)
    /// No message (or no exit) within the timeout.
    case timedOut
    /// The peer closed its end: on the parent side, the helper exited or died.
    case closed
    /// A message larger than the buffer arrived; it was discarded.
    case messageTooLarge(size: Int)
    /// On SOCK_SEQPACKET an empty message reads like end-of-file: never sent.
    case emptyMessage
    /// The inherited descriptor is not a SOCK_SEQPACKET socket.
    case notAPacketSocket(descriptor: Int32)

    public var description: String {
        switch self {
        case .system(let e): return "\(e)"
        case .timedOut: return "timed out"
        case .closed: return "the other end closed the channel"
        case .messageTooLarge(let n): return "a message of \(n) bytes is too large"
        case .emptyMessage: return "empty message"
        case .notAPacketSocket(let fd): return "descriptor \(fd) is not a SOCK_SEQPACKET socket"
        }
    }
}

/// One end of an `AF_UNIX` `SOCK_SEQPACKET` socket pair: reliable, ordered,
/// and one `send` is one `receive` (no framing to get wrong). Owns its
/// descriptor and closes it on deinit.
///
/// System calls: `sendto`/`sendmsg` (send), `recvfrom`/`recvmsg` (receive),
/// `poll` and `clock_gettime` (receive with a timeout), `close`.
/// Not thread-safe: confine an instance to one thread, task or actor.
public final class PacketChannel {
    /// The socket descriptor (-1 once closed).
    public private(set) var descriptor: Int32
    /// What receive timeouts are measured on.
    public var clock: any Clock = SystemClock()

    /// Takes ownership of `descriptor`.
    public init(adopting descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close() }

    /// A connected pair, both ends close-on-exec.
    public static func makePair() throws(ChannelError) -> (PacketChannel, PacketChannel) {
        let fds: (Int32, Int32)
        do { fds = try Sockets.packetPair() } catch { throw .system(error) }
        return (PacketChannel(adopting: fds.0), PacketChannel(adopting: fds.1))
    }

    /// The spawned side: adopts the channel its parent placed at `descriptor`
    /// (``HelperProcess/childDescriptor``, 3) after checking that it is a
    /// SOCK_SEQPACKET socket, and marks it close-on-exec. Call before a
    /// seccomp filter (uses `fstat`, `getsockopt`, `fcntl`).
    public static func inherited(descriptor: Int32 = HelperProcess.childDescriptor) throws(ChannelError) -> PacketChannel {
        guard Sockets.isPacketSocket(descriptor) else { throw .notAPacketSocket(descriptor: descriptor) }
        do { try Files.setCloseOnExec(descriptor) } catch { throw .system(error) }
        return PacketChannel(adopting: descriptor)
    }

    /// Closes the descriptor (idempotent); the peer then reads end-of-file.
    public func close() {
        if descriptor >= 0 {
            Files.close(descriptor)
            descriptor = -1
        }
    }

    /// Sends one message, with `passing` attached as SCM_RIGHTS when given.
    /// `MSG_NOSIGNAL`: a closed peer gives ``ChannelError/closed``, never SIGPIPE.
    public func send(_ message: [UInt8], passing fd: Int32? = nil) throws(ChannelError) {
        if message.isEmpty { throw .emptyMessage }
        let sent = message.withUnsafeBytes { b in
            Result { () throws(SystemError) in
                if let fd { return try Sockets.send(descriptor, b, passing: fd) }
                return try Sockets.send(descriptor, b)
            }
        }
        switch sent {
        case .success: return
        case .failure(let e) where e.errno == EPIPE || e.errno == ECONNRESET || e.errno == ENOTCONN: throw .closed
        case .failure(let e): throw .system(e)
        }
    }

    /// Receives one message: nil at end-of-file (the peer closed or died).
    /// A message over `maximumSize` bytes is discarded and reported as
    /// ``ChannelError/messageTooLarge(size:)`` (MSG_TRUNC gives its real size).
    public func receive(maximumSize: Int, timeout: Duration? = nil) throws(ChannelError) -> [UInt8]? {
        try receiveWithDescriptor(maximumSize: maximumSize, timeout: timeout, acceptDescriptor: false)?.message
    }

    /// Receives one message and the descriptor passed with it, if any (the
    /// caller owns it). With `acceptDescriptor` false, plain `recv` is used.
    public func receiveWithDescriptor(maximumSize: Int, timeout: Duration? = nil, acceptDescriptor: Bool = true)
        throws(ChannelError) -> (message: [UInt8], descriptor: Int32?)?
    {
        if let timeout { try waitReadable(timeout: timeout) }
        var buffer = [UInt8](repeating: 0, count: max(1, maximumSize))
        var passed: Int32 = -1
        let received = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SystemError) in
                if acceptDescriptor { return try Sockets.receive(descriptor, into: raw, descriptor: &passed) }
                return try Sockets.receive(descriptor, into: raw)
            }
        }
        let n: Int
        switch received {
        case .success(let count): n = count
        case .failure(let e) where e.errno == ECONNRESET: return nil
        case .failure(let e): throw .system(e)
        }
        if n == 0 {
            if passed >= 0 { Files.close(passed) }
            return nil
        }
        if n > buffer.count {
            if passed >= 0 { Files.close(passed) }
            throw .messageTooLarge(size: n)
        }
        buffer.removeSubrange(n...)
        return (buffer, passed >= 0 ? passed : nil)
    }

    /// Polls until readable (a message or end-of-file) or `timeout` passes.
    func waitReadable(timeout: Duration) throws(ChannelError) {
        let deadline = Deadline(after: timeout, clock: clock)
        while true {
            let remaining = deadline.millisecondsLeft()
            let ready: [(index: Int, revents: Int16)]
            do {
                ready = try Poller.wait([Poller.Interest(fd: descriptor, events: Int16(POLLIN))], milliseconds: remaining)
            } catch {
                throw .system(error)
            }
            if !ready.isEmpty { return }   // POLLIN, POLLHUP or POLLERR: recv tells which
            // Nothing ready: timed out, or woke early (rounding, a signal): recompute.
            if remaining == 0 { throw .timedOut }
        }
    }
}
