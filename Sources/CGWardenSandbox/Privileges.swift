#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// The credentials of this process, as the kernel shows them in /proc/self/status.
public struct Credentials: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    /// Effective, permitted and ambient capability sets (bit masks).
    public var capEff: UInt64
    public var capPrm: UInt64
    public var capAmb: UInt64
    public var noNewPrivs: Bool

    public init(uid: UInt32, gid: UInt32, groups: [UInt32], capEff: UInt64, capPrm: UInt64, capAmb: UInt64, noNewPrivs: Bool) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.capEff = capEff
        self.capPrm = capPrm
        self.capAmb = capAmb
        self.noNewPrivs = noNewPrivs
    }

    /// Reads /proc/self/status (mode 0444: readable after a drop too).
    public static func current() throws(SystemError) -> Credentials {
        let path = "/proc/self/status"
        let fd = try Files.open(path, O_RDONLY | O_CLOEXEC)
        defer { Files.close(fd) }
        return parse(String(decoding: try Files.readToEnd(fd, chunk: 4096, path: path), as: UTF8.self))
    }

    /// The fields of a /proc/PID/status text (real ids: the second of each line is the effective one).
    public static func parse(_ text: String) -> Credentials {
        var c = Credentials(uid: .max, gid: .max, groups: [], capEff: .max, capPrm: .max, capAmb: .max, noNewPrivs: false)
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            switch key {
            case "Uid": c.uid = fields.count >= 2 ? UInt32(fields[1]) ?? .max : .max
            case "Gid": c.gid = fields.count >= 2 ? UInt32(fields[1]) ?? .max : .max
            case "Groups": c.groups = fields.compactMap { UInt32($0) }
            case "CapEff": c.capEff = fields.first.flatMap { UInt64($0, radix: 16) } ?? .max
            case "CapPrm": c.capPrm = fields.first.flatMap { UInt64($0, radix: 16) } ?? .max
            case "CapAmb": c.capAmb = fields.first.flatMap { UInt64($0, radix: 16) } ?? .max
            case "NoNewPrivs": c.noNewPrivs = fields.first == "1"
            default: break
            }
        }
        return c
    }
}

/// Why privileges could not be dropped, or were not dropped completely.
public struct PrivilegeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Dropping root for good: what the unprivileged side of cgwarden does after
/// it spawned its privileged helper.
public enum Privileges {
    /// The uid of a user name (or a number).
    public static func userID(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getpwnam(name).map { $0.pointee.pw_uid }
    }

    /// The gid of a group name (or a number).
    public static func groupID(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    /// The overflow id: `nobody` and `nogroup`, shared by every service
    /// that runs "unprivileged" without a user of its own.
    public static let sharedID: UInt32 = 65534

    /// The ids to drop to, checked: they exist, are not root, and (unless
    /// `allowShared`) are not the shared `nobody`/`nogroup`, whose other
    /// processes could signal or ptrace the dropped side.
    public static func dropTarget(user: String, group: String, allowShared: Bool) throws(PrivilegeError) -> (uid: UInt32, gid: UInt32) {
        guard let uid = userID(user) else {
            throw PrivilegeError("no user \(user) to drop privileges to (create it: scripts/setup and the package do; or --user)")
        }
        guard let gid = groupID(group) else { throw PrivilegeError("no group \(group) to drop privileges to (or --group)") }
        if uid == 0 || gid == 0 {
            throw PrivilegeError("the user and group to drop to must not be root: this side of cgwarden runs unprivileged")
        }
        if !allowShared && (uid == sharedID || gid == sharedID) {
            throw PrivilegeError("\(user):\(group) is shared with other services, whose processes could signal or trace "
                                 + "cgwarden's unprivileged side: use a user of its own (cgwarden), or allow it explicitly")
        }
        return (uid, gid)
    }

    /// setgroups(none), setresgid(gid), setresuid(uid): real, effective and
    /// saved ids all change, so there is no way back; a uid change from 0 to
    /// non-zero clears the permitted, effective and ambient capabilities
    /// (no PR_SET_KEEPCAPS). Then PR_SET_NO_NEW_PRIVS, so that no setuid
    /// binary can give root back. Verified afterwards: the ids, no
    /// supplementary groups, CapEff/CapPrm/CapAmb 0, and setresuid(0) refused.
    @discardableResult
    public static func drop(toUser uid: UInt32, group gid: UInt32) throws(PrivilegeError) -> Credentials {
        if uid == 0 || gid == 0 { throw PrivilegeError("refusing to drop privileges to uid \(uid) gid \(gid): that is root") }
        do {
            try ProcessControl.clearSupplementaryGroups()
            try ProcessControl.setGroupIDs(gid)
            try ProcessControl.setUserIDs(uid)
        } catch {
            throw PrivilegeError("\(error.call): \(String(cString: strerror(error.errno)))")
        }
        do { try ProcessHardening.setNoNewPrivileges() } catch { throw PrivilegeError("\(error)") }

        guard let u = try? ProcessControl.userIDs(), u.real == uid, u.effective == uid, u.saved == uid,
              let g = try? ProcessControl.groupIDs(), g.real == gid, g.effective == gid, g.saved == gid else {
            throw PrivilegeError("user and group ids did not all change to \(uid):\(gid)")
        }
        if ProcessControl.supplementaryGroupCount != 0 { throw PrivilegeError("supplementary groups remain after setgroups") }
        if (try? ProcessControl.setUserIDs(0)) != nil { throw PrivilegeError("setresuid(0) still succeeds after the drop") }
        let c: Credentials
        do { c = try Credentials.current() } catch { throw PrivilegeError("\(error)") }
        if c.capEff != 0 || c.capPrm != 0 || c.capAmb != 0 {
            throw PrivilegeError("capabilities remain after the drop (CapEff \(hexMask(c.capEff)), CapPrm \(hexMask(c.capPrm)), CapAmb \(hexMask(c.capAmb)))")
        }
        return c
    }

    /// A capability mask as /proc shows it: 16 hex digits.
    public static func hexMask(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - h.count)) + h
    }
}
