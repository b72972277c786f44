/// What an operator marked on a cgroup directory for memory guards: its
/// owner and the extended attributes systemd-oomd and oomd read
/// (`user.oomd_avoid`, `user.oomd_omit`, `trusted.oomd_prefer`, `trusted.oomd_avoid`).
public struct CgroupAttributes: Equatable, Sendable {
    /// Owner of the cgroup directory (delegated subtrees belong to a user).
    public var ownerUID: UInt32
    /// The attributes that are set, by name (absent = not set).
    public var values: [String: String]

    public init(ownerUID: UInt32, values: [String: String]) {
        self.ownerUID = ownerUID
        self.values = values
    }

    /// The attribute names cgwarden reads.
    public static let names = ["user.oomd_avoid", "user.oomd_omit", "trusted.oomd_prefer", "trusted.oomd_avoid"]

    /// True when `name` is set to `1` (systemd and oomd write "1").
    public func isSet(_ name: String) -> Bool {
        guard let v = values[name] else { return false }
        return v == "1" || v == "1\n" || v == "true"
    }
}
