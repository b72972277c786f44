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
