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
        let fd = retryEINTR { open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 { throw SystemError(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw SystemError(call: "fstat", path: path, errno: errno) }
        if st.st_mode & S_IFMT != S_IFREG { throw SystemError(call: "open", path: path, errno: EINVAL) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Names of the regular files in `dir` ending in `suffix`, sorted bytewise;
    /// empty when the directory does not exist.
    public static func names(in dir: String, suffix: String) throws(SystemError) -> [String] {
        guard let d = opendir(dir) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw SystemError(call: "opendir", path: dir, errno: errno)
        }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.hasSuffix(suffix), !name.hasPrefix(".") else { continue }
            out.append(name)
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
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
        let fd = retryEINTR { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        if fd < 0 { throw SystemError(call: "open", path: path, errno: errno) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    public func write(line: String) throws(SystemError) {
        var s = line + "\n"
        var failure: Int32 = 0
        s.withUTF8 { b in
            var off = 0
            while off < b.count {
                let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                off += n
            }
        }
        if failure != 0 { throw SystemError(call: "write", path: path, errno: failure) }
    }
}
