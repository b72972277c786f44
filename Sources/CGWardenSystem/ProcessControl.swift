#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The process's own credentials and prctl flags: what the privileged
/// helpers set before serving and what dropping root changes. Errors name
/// the call as the callers report it.
public enum ProcessControl {
    /// `prctl(PR_SET_DUMPABLE, dumpable)`.
    public static func setDumpable(_ dumpable: Bool) throws(SystemError) {
        _ = try syscall("prctl(PR_SET_DUMPABLE)") { cgw_set_dumpable(dumpable ? 1 : 0) }
    }

    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: irreversible.
    public static func setNoNewPrivileges() throws(SystemError) {
        _ = try syscall("prctl(PR_SET_NO_NEW_PRIVS)") { cgw_set_no_new_privs() }
    }

    /// `prctl(PR_GET_NO_NEW_PRIVS)`.
    public static var noNewPrivileges: Bool { cgw_get_no_new_privs() == 1 }

    /// `setgroups(0, NULL)`: no supplementary groups.
    public static func clearSupplementaryGroups() throws(SystemError) {
        _ = try syscall("setgroups") { setgroups(0, nil) }
    }

    /// `getgroups(0, NULL)`: how many supplementary groups remain.
    public static var supplementaryGroupCount: Int32 { getgroups(0, nil) }

    /// `setresgid(gid, gid, gid)`: real, effective and saved.
    public static func setGroupIDs(_ gid: UInt32) throws(SystemError) {
        _ = try syscall("setresgid(\(gid))") { cgw_setresgid(gid, gid, gid) }
    }

    /// `setresuid(uid, uid, uid)`: real, effective and saved.
    public static func setUserIDs(_ uid: UInt32) throws(SystemError) {
        _ = try syscall("setresuid(\(uid))") { cgw_setresuid(uid, uid, uid) }
    }

    /// `getresuid`: real, effective and saved user ids.
    public static func userIDs() throws(SystemError) -> (real: UInt32, effective: UInt32, saved: UInt32) {
        var r: uid_t = 0, e: uid_t = 0, s: uid_t = 0
        _ = try syscall("getresuid") { cgw_getresuid(&r, &e, &s) }
        return (r, e, s)
    }

    /// `getresgid`: real, effective and saved group ids.
    public static func groupIDs() throws(SystemError) -> (real: UInt32, effective: UInt32, saved: UInt32) {
        var r: gid_t = 0, e: gid_t = 0, s: gid_t = 0
        _ = try syscall("getresgid") { cgw_getresgid(&r, &e, &s) }
        return (r, e, s)
    }
}
