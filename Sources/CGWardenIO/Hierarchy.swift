#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// Whether a directory is a cgroup v2 hierarchy with the memory controller.
public enum HierarchyCheck: Equatable, Sendable {
    /// A real cgroup2 mount with `memory` in its root's `cgroup.controllers`.
    case cgroup2
    /// Not a cgroup2 mount, but a tree of plain files laid out like one
    /// (a fixture): it has `cgroup.controllers` with `memory`.
    case fixture
    /// No usable memory controller here; the message says why, in one line.
    case unavailable(String)

    public var isUsable: Bool {
        if case .unavailable = self { return false }
        return true
    }

    /// Examines `root` (a cgroup mount point or a fixture tree).
    public static func examine(_ root: String, fileSystem fs: FileSystem = LinuxFileSystem()) -> HierarchyCheck {
        let fd: Int32
        do {
            fd = try fs.openDirectory(path: root)
        } catch {
            return .unavailable("cannot open cgroup root \(error.at(root))")
        }
        defer { fs.close(fd) }
        let type = (try? fs.fileSystemType(fd)) ?? 0
        let buffer = ReadBuffer()
        let controllers = (try? buffer.readFile("cgroup.controllers", in: fd, fs: fs))
            .flatMap { try? Parse.controllers($0) }
        if let controllers {
            if controllers.contains("memory") { return type == FileSystemMagic.cgroup2 ? .cgroup2 : .fixture }
            let list = controllers.isEmpty ? "none" : controllers.joined(separator: " ")
            return .unavailable("\(root) is cgroup v2 but the memory controller is not available there (controllers: \(list))")
        }
        // No cgroup.controllers: cgroup v1, or hybrid (tmpfs with v1 hierarchies and a v2 one at unified/).
        func isDir(_ name: String) -> Bool {
            guard let d = try? fs.openDirectory(CgroupName(name), in: fd) else { return false }
            fs.close(d)
            return true
        }
        if type == FileSystemMagic.tmpfs || type == FileSystemMagic.cgroup1 || isDir("memory") {
            let hybrid = isDir("unified")
            let memory = isDir("memory") ? "; the memory controller is on cgroup v1 at \(root)/memory" : ""
            let mode = hybrid ? "hybrid mode: v1 hierarchies with a v2 one at \(root)/unified" : "cgroup v1"
            return .unavailable("\(root) is not a cgroup v2 hierarchy (\(mode)\(memory)); cgwarden needs cgroup v2 with the memory controller")
        }
        return .unavailable("\(root) is not a cgroup v2 hierarchy (no cgroup.controllers)")
    }
}
