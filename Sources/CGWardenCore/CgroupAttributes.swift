/// What the kill helper reads of a cgroup for the policy: the owner of its
/// directory and the extended attributes that express a preference.
///
/// `values` holds only the attributes that are set, by name:
/// `user.oomd_avoid`, `user.oomd_omit` (settable by the group's owner, as
/// systemd does for `ManagedOOMPreference=`), `trusted.oomd_prefer`,
/// `trusted.oomd_avoid` (only CAP_SYS_ADMIN can read or write `trusted.*`,
/// which is why the privileged helper reads them). An absent name is unset.
public struct CgroupAttributes: Equatable, Sendable {
    public var ownerUID: UInt32
    public var values: [String: String]

    public init(ownerUID: UInt32, values: [String: String]) {
        self.ownerUID = ownerUID
        self.values = values
    }

    /// The attributes the helper reads, in this order (the request cannot
    /// name others: the helper reveals nothing else).
    public static let names = ["user.oomd_avoid", "user.oomd_omit", "trusted.oomd_prefer", "trusted.oomd_avoid"]
}
