#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// The one walk of the kill path over a group and every group below it,
/// pre-order, at any depth: the protection check before a kill, the dry
/// run's count, the fallback's pids, the search for cgwarden's own cgroup.
///
/// It has no bound a tenant could reach to make a group unkillable: no
/// recursion (the levels are an array on the heap) and no descriptor per
/// level (one descriptor of the group it is in; down with `openat(name)`,
/// back up with `openat("..")`, checked by inode: a cgroup cannot move to
/// another parent, and `..` of a removed one still leads to its parent).
/// Its cost is linear in the groups below the target, which the kernel
/// bounds (each costs the tenant kernel memory, and `cgroup.max.descendants`).
///
/// What it cannot see into is reported, never skipped: a child that is a
/// mount point (EXDEV), a symlink (ELOOP, ENOTDIR) or cannot be opened or
/// listed. A protected group could be there; the caller decides (a kill
/// refuses). A group removed during the walk (ENOENT, ENODEV) is just gone.
struct SubtreeWalk {
    let fs: HelperFileSystem

    enum Event {
        /// A group: a descriptor valid during the call, its path and id.
        case group(Int32, CgroupPath, id: UInt64)
        /// A group the walk could not open or list, with the errno.
        case unseen(CgroupPath, errno: Int32)
    }

    private struct Level {
        var path: CgroupPath
        var inode: UInt64
        var names: [CgroupName]
        var next = 0
    }

    /// Calls `visit` for `dir` (the group at `path`, with id `id`) and every
    /// group below it, until `visit` returns false. Throws what `visit`
    /// throws, and ESTALE when the walk could not find its way back up.
    func walk(_ dir: Int32, at path: CgroupPath, id given: UInt64? = nil,
              _ visit: (Event) throws(SystemError) -> Bool) throws(SystemError) {
        let id: UInt64
        if let given { id = given } else { id = try fs.status(dir).inode }
        guard try visit(.group(dir, path, id: id)) else { return }
        var levels: [Level] = []
        switch listing(dir, path, id) {
        case .names(let level): levels.append(level)
        case .unseen(let e): _ = try visit(.unseen(path, errno: e)); return
        case .none: return
        }
        var current = dir   // not ours to close while it is `dir`
        defer { if current != dir { fs.close(current) } }
        while let last = levels.last {
            let k = levels.count - 1
            guard last.next < last.names.count else {
                levels.removeLast()
                guard let up = levels.last else { return }
                let parent = try fs.openParent(current)
                let ok = (try? fs.status(parent).inode) == up.inode
                if current != dir { fs.close(current) }
                current = parent
                if !ok { throw SystemError(call: "openat ..", path: up.path.description, errno: ESTALE) }
                continue
            }
            let name = last.names[last.next]
            levels[k].next += 1
            let childPath = last.path.appending(name)
            let child: Int32
            do {
                child = try fs.openSubgroup(name, in: current)
            } catch {
                if error.isVanished { continue }
                guard try visit(.unseen(childPath, errno: error.errno)) else { return }
                continue
            }
            let childID: UInt64
            do {
                childID = try fs.status(child).inode
            } catch {
                fs.close(child)
                if error.isVanished { continue }
                guard try visit(.unseen(childPath, errno: error.errno)) else { return }
                continue
            }
            let goOn: Bool
            do {
                goOn = try visit(.group(child, childPath, id: childID))
            } catch {
                fs.close(child)
                throw error
            }
            guard goOn else { fs.close(child); return }
            switch listing(child, childPath, childID) {
            case .names(let level):
                // Down one level: only the deepest group's descriptor stays open.
                if current != dir { fs.close(current) }
                current = child
                levels.append(level)
            case .unseen(let e):
                fs.close(child)
                guard try visit(.unseen(childPath, errno: e)) else { return }
            case .none:
                fs.close(child)
            }
        }
    }

    private enum Listing {
        case names(Level)
        case unseen(Int32)
        case none
    }

    private func listing(_ dir: Int32, _ path: CgroupPath, _ id: UInt64) -> Listing {
        do {
            let names = try fs.subgroupNames(dir)
            return names.isEmpty ? .none : .names(Level(path: path, inode: id, names: names))
        } catch {
            return error.isVanished ? .none : .unseen(error.errno)
        }
    }
}
