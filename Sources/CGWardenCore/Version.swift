/// cgwarden's version: the one place it is written. `cgwarden --version`
/// prints it, and scripts/package names the Debian package after it
/// (`<version>-<debian revision>`).
public enum CGWardenVersion {
    public static let string = "0.1.0"
}
