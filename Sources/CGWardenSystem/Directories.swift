#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenCore

/// One entry of a directory listing.
public struct DirectoryEntry: Equatable, Sendable {
    /// `unknown`: the file system did not say (d_type DT_UNKNOWN); opening it
    /// with O_DIRECTORY tells.
    public enum Kind: Sendable { case directory, unknown }
    /// The name's bytes as the kernel lists them.
    public var name: CgroupName
    /// For a cgroup directory, its cgroup id.
    public var inode: UInt64
    public var kind: Kind

    public init(name: CgroupName, inode: UInt64, kind: Kind) {
        self.name = name
        self.inode = inode
        self.kind = kind
    }
}

/// Directory listings.
public enum Directories {
    /// The entries of a directory that are (or may be) directories, read with
    /// `getdents64` from the descriptor's current offset to the end. Regular
    /// files and symlinks are skipped before their names are decoded (a
    /// cgroup directory lists ~50 control files for each child group).
    /// (The kill helper calls this on a fresh descriptor: its allow-list has no lseek.)
    /// At most `limit` entries: the listing stops there.
    public static func subdirectories(_ dir: Int32, limit: Int = .max) throws(SystemError) -> [DirectoryEntry] {
        var out: [DirectoryEntry] = []
        // 32 KiB holds ~800 entries: a cgroup with few children lists in one call.
        let size = 32 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = try syscall("getdents64") { cgw_getdents64(dir, buffer, size) }
            if n == 0 { return out }
            var offset = 0
            while offset < n {
                if out.count >= limit { return out }
                var ino: UInt64 = 0
                var type: UInt8 = 0
                var namePtr: UnsafePointer<CChar>?
                offset += cgw_dirent_at(buffer, offset, &ino, &type, &namePtr)
                let kind: DirectoryEntry.Kind
                switch Int32(type) {
                case Int32(DT_DIR): kind = .directory
                case Int32(DT_UNKNOWN): kind = .unknown
                default: continue
                }
                let length = strlen(namePtr!)
                let name = UnsafeRawBufferPointer(start: namePtr!, count: length)
                if name.elementsEqual(".".utf8) || name.elementsEqual("..".utf8) { continue }
                out.append(DirectoryEntry(name: CgroupName(bytes: Array(name)), inode: ino, kind: kind))
            }
        }
    }

    /// The names in the directory at `path` (`opendir`/`readdir`), but `.` and `..`, in listing order.
    public static func names(_ path: String) throws(SystemError) -> [String] {
        guard let d = opendir(path) else { throw SystemError(call: "opendir", path: path, errno: errno) }
        return names(of: d)
    }

    /// The names in the directory held at `dir` (read through a descriptor
    /// of its own, so `dir`'s offset is untouched), but `.` and `..`.
    public static func names(in dir: Int32) throws(SystemError) -> [String] {
        let fd = try syscall("openat", path: ".") { openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard let d = fdopendir(fd) else {
            let e = errno
            Files.close(fd)
            throw SystemError(call: "fdopendir", path: ".", errno: e)
        }
        return names(of: d)
    }

    /// Reads and closes `d`. Names of cgwarden's own files, not of cgroups
    /// (those are bytes, `entries`): a name that is not UTF-8 is decoded
    /// with replacement characters.
    private static func names(of d: OpaquePointer) -> [String] {
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            out.append(name)
        }
        return out
    }
}
