#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenIO
import CGWardenSandbox
import CGWardenSystem

/// Finds cgwarden's own cgroup beneath a root, in any cgroup namespace.
///
/// `/proc/self/cgroup` gives the path relative to the reader's cgroup
/// namespace: in a container with the host's hierarchy mounted it reads
/// `0::/` whatever the real group. So the answer is the group whose
/// `cgroup.procs` lists this process (pids there are shown in the reader's
/// pid namespace, where this process knows its own pid): first tried on the
/// tails of the `/proc/self/cgroup` path (cheap, right outside a namespace),
/// then by a walk of the whole tree.
public enum OwnCgroupSearch {
    /// Where `pid` is beneath the directory `root` (a descriptor, O_PATH is enough).
    static func locate(pid: Int32, root: Int32, fs: HelperFileSystem,
                       hint: CgroupPath?? = nil) -> OwnCgroup {
        let executor = KillExecutor(fs: fs, signaller: LinuxSignaller(), clock: SystemClock())
        func lists(_ dir: Int32) -> Bool? {
            do { return try executor.pidsOfGroup(dir).contains(pid) } catch { return nil }
        }
        let mine = hint ?? ((try? ProcReader().cgroup(of: "self")) ?? nil)
        if let mine {
            let names = mine.names
            for k in 0...names.count {
                let candidate = CgroupPath(names: Array(names[k...]))
                guard let dir = try? fs.openGroup(candidate, beneath: root) else { continue }
                defer { fs.close(dir) }
                if lists(dir) == true, let id = try? fs.status(dir).inode { return .at(candidate, id: id) }
            }
        }
        // The whole tree. Complete and not found: not beneath the root.
        guard let rootDir = try? fs.openGroup(.root, beneath: root) else { return .unknown }
        defer { fs.close(rootDir) }
        guard let rootID = try? fs.status(rootDir).inode else { return .unknown }
        var found: OwnCgroup?
        var complete = true
        do {
            try SubtreeWalk(fs: fs).walk(rootDir, at: .root, id: rootID) { event in
                switch event {
                case .unseen:
                    complete = false
                case .group(let fd, let p, let id):
                    switch lists(fd) {
                    case true?: found = .at(p, id: id)
                    case false?: break
                    case nil: complete = false
                    }
                }
                return found == nil
            }
        } catch {
            complete = false
        }
        return found ?? (complete ? .outside : .unknown)
    }

    /// Where this process is beneath the directory at `root` (the unprivileged
    /// side, without a helper: `explain`).
    public static func locate(root: String) -> OwnCgroup {
        guard let dir = try? openPathDirectory(root) else { return .unknown }
        defer { Files.close(dir) }
        return locate(pid: getpid(), root: dir, fs: LinuxHelperFileSystem())
    }
}
