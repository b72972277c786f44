#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// Plain files: the configuration and its drop-ins, and recordings.
public enum TextFiles {
    /// The whole file as text (invalid UTF-8 replaced).
    public static func read(_ path: String) throws(SystemError) -> String {
        String(decoding: try bytes(path), as: UTF8.self)
    }

    /// The whole file's bytes. Only a regular file is read (a FIFO or a
    /// device at a configuration path would block or never end).
    public static func bytes(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try Files.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        defer { Files.close(fd) }
        if !(try Files.status(fd, path: path)).isRegularFile { throw SystemError(call: "open", path: path, errno: EINVAL) }
        return try Files.readToEnd(fd, chunk: 65536, path: path)
    }

    /// Names of the regular files in `dir` ending in `suffix`, sorted bytewise;
    /// empty when the directory does not exist.
    public static func names(in dir: String, suffix: String) throws(SystemError) -> [String] {
        let all: [String]
        do {
            all = try Directories.names(dir)
        } catch where error.errno == ENOENT || error.errno == ENOTDIR {
            return []
        }
        return all.filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The configuration `path` and its drop-ins, `<dir of path>/cgwarden.d/*.toml`
    /// in name order (the systemd and oomd habit).
    public static func configuration(_ path: String) throws(SystemError) -> [(name: String, bytes: [UInt8])] {
        var files = [(name: path, bytes: try bytes(path))]
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dropins = (dir.isEmpty ? "" : dir) + "/cgwarden.d"
        for name in try names(in: dropins, suffix: ".toml") {
            files.append((name: dropins + "/" + name, bytes: try bytes(dropins + "/" + name)))
        }
        return files
    }
}

/// Appends lines to a file; each line goes out in one write(2), so a reader
/// (or a crash) sees whole lines only, up to the last one.
public final class LineWriter {
    private let fd: Int32
    public let path: String

    /// Creates or truncates `path` (mode 0644).
    public init(path: String) throws(SystemError) {
        self.fd = try Files.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644)
        self.path = path
    }

    deinit { Files.close(fd) }

    public func write(line: String) throws(SystemError) {
        try Files.writeAll(fd, line + "\n", path: path)
    }
}
