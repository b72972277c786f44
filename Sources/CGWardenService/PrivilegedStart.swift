#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
import CGWardenCore
import CGWardenSandbox

/// The start of every process of cgwarden that may kill: spawn the kill
/// helper while still root, then drop to the unprivileged user for good.
/// `cgwarden kill` and the daemon start the same way.
public enum PrivilegedStart {
    /// Who to become after the helper runs.
    public struct Drop: Equatable, Sendable {
        public var user: String
        public var group: String
        public var allowShared: Bool

        public init(user: String, group: String, allowShared: Bool) {
            self.user = user
            self.group = group
            self.allowShared = allowShared
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        /// The user or group cannot be dropped to (missing, root, shared).
        case user(String)
        /// No helper could be started: its outcome.
        case helper(HelperRequestError)
        case drop(String)

        public var description: String {
            switch self {
            case .user(let m), .drop(let m): return m
            case .helper(let e): return "\(e)"
            }
        }
    }

    /// The helper's client, with this process dropped to `drop` when it runs
    /// as root (through a launcher, which can replace a helper after the
    /// drop); unchanged otherwise (a delegated subtree, tests).
    /// `beforeDrop` runs as root with the helper up: what needs privilege
    /// and outlives the drop in a descriptor (PSI triggers, /dev/kmsg).
    public static func start(_ configuration: KillHelperClient.Configuration, drop: Drop,
                             beforeDrop: (KillHelperClient) -> Void = { _ in })
        throws(Failure) -> (client: KillHelperClient, credentials: Credentials?) {
        var configuration = configuration
        let target: (uid: UInt32, gid: UInt32)?
        if geteuid() == 0 {
            do {
                target = try Privileges.dropTarget(user: drop.user, group: drop.group, allowShared: drop.allowShared)
            } catch {
                throw .user(error.message)
            }
        } else {
            target = nil
        }
        configuration.useLauncher = target != nil
        let client: KillHelperClient
        do { client = try KillHelperClient(configuration) } catch { throw .helper(error) }
        beforeDrop(client)
        guard let target else { return (client, try? Credentials.current()) }
        do {
            let c = try Privileges.drop(toUser: target.uid, group: target.gid)
            return (client, c)
        } catch {
            client.shutdown()
            throw .drop("cannot drop privileges to \(drop.user):\(drop.group): \(error)")
        }
    }
}
