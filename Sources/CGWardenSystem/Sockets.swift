#if canImport(Glibc)
import Glibc
#endif
import CShims

/// `AF_UNIX` `SOCK_SEQPACKET` calls: one send is one receive.
public enum Sockets {
    /// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
    public static func packetPair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try syscall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        return (fds[0], fds[1])
    }

    /// Whether `fd` is an open SOCK_SEQPACKET socket (`fstat`, `getsockopt(SO_TYPE)`).
    public static func isPacketSocket(_ fd: Int32) -> Bool {
        guard let st = try? Files.status(fd), st.isSocket else { return false }
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == Int32(SOCK_SEQPACKET.rawValue)
    }

    /// `send(fd, bytes, MSG_NOSIGNAL)`: a closed peer is EPIPE, never SIGPIPE.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try syscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `sendmsg` of `bytes` with `descriptor` attached as SCM_RIGHTS, MSG_NOSIGNAL.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, passing descriptor: Int32) throws(SystemError) -> Int {
        try syscall("send") { cgw_send_with_fd(fd, bytes.baseAddress, bytes.count, descriptor) }
    }

    /// `recv(fd, buffer, MSG_TRUNC)`: the message's real length (larger than
    /// the buffer when it was cut), 0 at end of file.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try syscall("recv") { recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC)) }
    }

    /// `recvmsg` with MSG_TRUNC | MSG_CMSG_CLOEXEC: as `receive`, and the
    /// descriptor passed with the message (SCM_RIGHTS), if any, in `descriptor` (else -1).
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                               descriptor: inout Int32) throws(SystemError) -> Int {
        try syscall("recv") { cgw_recv_with_fd(fd, buffer.baseAddress, buffer.count, &descriptor) }
    }
}

/// Stream sockets: the metrics endpoint's listening socket and its connections.
extension Sockets {
    /// A listening TCP socket on `address` (4 bytes: IPv4, 16: IPv6 only) and
    /// `port` (0: any free port), non-blocking, close-on-exec.
    public static func listen(address: [UInt8], port: UInt16, backlog: Int32) throws(SystemError) -> Int32 {
        try syscall("bind", path: "port \(port)") { cgw_listen_inet(address, Int32(address.count), port, backlog) }
    }

    /// A listening Unix stream socket at `path` (mode `mode`), non-blocking,
    /// close-on-exec; a stale socket file there is replaced, any other file is EADDRINUSE.
    public static func listen(unixPath path: String, mode: UInt32, backlog: Int32) throws(SystemError) -> Int32 {
        try syscall("bind", path: path) { cgw_listen_unix(path, mode, backlog) }
    }

    /// The next pending connection (non-blocking, close-on-exec), nil when none is pending.
    public static func accept(_ fd: Int32) throws(SystemError) -> Int32? {
        do {
            return try syscall("accept4") { cgw_accept(fd) }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return nil
        }
    }

    /// The TCP port `fd` is bound to.
    public static func localPort(_ fd: Int32) throws(SystemError) -> UInt16 {
        UInt16(truncatingIfNeeded: try syscall("getsockname") { cgw_local_port(fd) })
    }

    /// `recv(fd, buffer, 0)`: the bytes read, 0 at end of stream; nil when
    /// nothing is there yet (non-blocking).
    public static func receiveStream(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        do {
            return try syscall("recv") { recv(fd, buffer.baseAddress, buffer.count, 0) }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return nil
        }
    }

    /// `send(fd, bytes, MSG_NOSIGNAL)` on a non-blocking stream: what was
    /// taken, 0 when the socket's buffer is full.
    public static func sendStream(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        do {
            return try send(fd, bytes)
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return 0
        }
    }

    /// A blocking TCP connection (tests, benchmarks).
    public static func connect(address: [UInt8], port: UInt16) throws(SystemError) -> Int32 {
        try syscall("connect", path: "port \(port)", retryOnInterrupt: false) { cgw_connect_inet(address, Int32(address.count), port) }
    }

    /// A blocking connection to a Unix stream socket (tests, benchmarks).
    public static func connect(unixPath path: String) throws(SystemError) -> Int32 {
        try syscall("connect", path: path, retryOnInterrupt: false) { cgw_connect_unix(path) }
    }
}
