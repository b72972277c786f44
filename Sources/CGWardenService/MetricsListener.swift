import CGWardenCore
import CGWardenEndpoint
import CGWardenPolicy
import CGWardenSystem

/// The listening socket of `[metrics] listen`.
public enum MetricsListener {
    /// A Unix socket's mode: anyone on the node may scrape it, as anyone may
    /// read the cgroup files the figures come from (they are 0644).
    public static let unixSocketMode: UInt32 = 0o666

    public static func bind(_ address: ListenAddress, backlog: Int32 = EndpointTunables().backlog) throws(SystemError) -> Int32 {
        switch address {
        case .inet4(let a, let port), .inet6(let a, let port):
            return try Sockets.listen(address: a, port: port, backlog: backlog)
        case .unix(let path):
            return try Sockets.listen(unixPath: path, mode: unixSocketMode, backlog: backlog)
        }
    }
}
