#if canImport(Glibc)
import Glibc
#endif

extension FixtureTree {
    /// The kubelet's pod log directory of the fixture: `<dir>/pods`, holding
    /// one directory per entry (`namespace_name_uid`) with a container's log
    /// directory inside, as the kubelet lays it out. Readable by anyone (a
    /// daemon that dropped its privileges lists it).
    @discardableResult
    public func addPodLogs(_ entries: [String]) -> String {
        let dir = self.dir.path + "/pods"
        mkdir(dir, 0o755)
        chmod(self.dir.path, 0o755)
        for e in entries {
            mkdir(dir + "/" + e, 0o755)
            mkdir(dir + "/" + e + "/app", 0o755)
            writeFile(dir + "/" + e + "/app/0.log", "")
        }
        return dir
    }
}
