#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Where real-kernel tests may run, and whether they must.
///
/// They create cgroups and run allocators, so they run only on a real cgroup2
/// mount: on a hybrid host `/sys/fs/cgroup` is a tmpfs where `mkdir` succeeds
/// and `memory.max` is a plain file that limits nothing.
public enum KernelEnvironment {
    public static let cgroupRoot = "/sys/fs/cgroup"

    /// `/sys/fs/cgroup` has the cgroup2 statfs magic and we are in the test VM.
    public static var isCgroup2VM: Bool {
        guard getenv("IN_CGROUP2_VM").map({ String(cString: $0) }) == "1" else { return false }
        let fd = open(cgroupRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return cgw_fstatfs_type(fd) == CGW_CGROUP2_SUPER_MAGIC && getuid() == 0
    }

    /// Set by the VM harness (`CGWARDEN_KERNEL_TESTS=required`): a missing
    /// kernel is then a failure, never a skip.
    public static var isRequired: Bool {
        getenv("CGWARDEN_KERNEL_TESTS").map { String(cString: $0) } == "required"
    }

    /// Run the test (it may still fail in `requireCgroup2`) or skip it.
    public static var shouldRun: Bool { isCgroup2VM || isRequired }

    public static let skipReason =
        "needs a real cgroup v2 kernel: run through scripts/test (it boots one in a VM); on this host /sys/fs/cgroup is not cgroup2"

    /// Fails the test unless on a real cgroup2 mount in the VM.
    public static func requireCgroup2() throws {
        if !isCgroup2VM {
            throw KernelTestError("real-kernel test required (CGWARDEN_KERNEL_TESTS=required) but \(cgroupRoot) is not cgroup2 in the VM")
        }
    }
}

public struct KernelTestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A cgroup made for one test below the real root, removed afterwards with
/// everything in it killed. Creation refuses anything but a cgroup2 mount.
public final class TestCgroup: @unchecked Sendable {
    /// Absolute directory, e.g. `/sys/fs/cgroup/cgw-test-oom-1234`.
    public let dir: String
    /// Path below the root, e.g. `/cgw-test-oom-1234`.
    public let path: String

    public init(_ name: String, controllers: String = "+memory +pids") throws {
        try KernelEnvironment.requireCgroup2()
        path = "/cgw-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        dir = KernelEnvironment.cgroupRoot + path
        guard mkdir(dir, 0o755) == 0 else { throw KernelTestError("mkdir \(dir): \(String(cString: strerror(errno)))") }
        if !controllers.isEmpty { try write("cgroup.subtree_control", controllers) }
    }

    /// Creates a child group (relative path below this one) and returns its directory.
    @discardableResult
    public func child(_ relative: String, controllers: String? = nil) throws -> String {
        let d = dir + "/" + relative
        guard mkdir(d, 0o755) == 0 else { throw KernelTestError("mkdir \(d): \(String(cString: strerror(errno)))") }
        if let controllers { try write(relative + "/cgroup.subtree_control", controllers) }
        return d
    }

    public func write(_ file: String, _ value: String) throws {
        let p = dir + "/" + file
        let fd = open(p, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelTestError("open \(p): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let n = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n >= 0 else { throw KernelTestError("write \(value) to \(p): \(String(cString: strerror(errno)))") }
    }

    public func read(_ file: String) -> String? { readFile(dir + "/" + file) }

    /// Sets an extended attribute on the group (or a child: `relative`).
    public func setAttribute(_ name: String, _ value: String, on relative: String = "") throws {
        let p = relative.isEmpty ? dir : dir + "/" + relative
        guard cgw_setxattr(p, name, value, value.utf8.count) == 0 else {
            throw KernelTestError("setxattr \(name) on \(p): \(String(cString: strerror(errno)))")
        }
    }

    /// A single-number file such as memory.current (nil when unreadable).
    public func number(_ file: String) -> UInt64? {
        read(file).flatMap { UInt64($0.split(separator: "\n").first ?? "") }
    }

    /// The value of `key` in a keyed file such as memory.events.
    public func value(_ file: String, _ key: String) -> UInt64? {
        guard let text = read(file) else { return nil }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == key { return UInt64(f[1]) }
        }
        return nil
    }

    /// Kills everything inside and removes the group and its descendants.
    public func remove() {
        removeGroup(dir)
    }

    deinit { remove() }
}

/// Kills a group's processes (cgroup.kill), waits until it is empty, removes it bottom-up.
public func removeGroup(_ dir: String) {
    precondition(dir.hasPrefix(KernelEnvironment.cgroupRoot + "/cgw-test-"), "refusing to remove \(dir)")
    removeGroup(bytes: Array(dir.utf8))
}

/// The same by the path's bytes: test groups have names that are not UTF-8.
func removeGroup(bytes dir: [UInt8]) {
    func c(_ b: [UInt8]) -> [CChar] { b.map { CChar(bitPattern: $0) } + [0] }
    var st = stat()
    guard stat(c(dir), &st) == 0 else { return }
    let kill = open(c(dir + Array("/cgroup.kill".utf8)), O_WRONLY | O_CLOEXEC)
    if kill >= 0 {
        _ = Glibc.write(kill, "1", 1)
        close(kill)
    }
    _ = waitUntil(seconds: 10) { readFile(bytes: dir + Array("/cgroup.events".utf8))?.contains("populated 0") ?? true }
    if let d = opendir(c(dir)) {
        var children: [[UInt8]] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if e.pointee.d_type == UInt8(DT_DIR), name != [0x2e], name != [0x2e, 0x2e] { children.append(name) }
        }
        closedir(d)
        for child in children { removeGroup(bytes: dir + [0x2f] + child) }
    }
    // A group whose last process just died may need a moment before rmdir succeeds.
    _ = waitUntil(seconds: 5) { rmdir(c(dir)) == 0 || errno == ENOENT }
}

/// A small file read by the bytes of its path.
public func readFile(bytes path: [UInt8]) -> String? {
    let fd = open(path.map { CChar(bitPattern: $0) } + [0], O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = Glibc.read(fd, &buf, buf.count)
    return n < 0 ? nil : String(decoding: buf[0..<n], as: UTF8.self)
}

/// Writes `value` to a file named by the bytes of its path (a cgroup file).
public func writeFile(bytes path: [UInt8], _ value: String) throws {
    let fd = open(path.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw KernelTestError("open \(shownBytes(path)): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard value.withCString({ Glibc.write(fd, $0, strlen($0)) }) >= 0 else {
        throw KernelTestError("write to \(shownBytes(path)): \(String(cString: strerror(errno)))")
    }
}

/// Makes a directory named by the bytes of its path.
public func makeDirectory(bytes path: [UInt8]) throws {
    guard mkdir(path.map { CChar(bitPattern: $0) } + [0], 0o755) == 0 else {
        throw KernelTestError("mkdir \(shownBytes(path)): \(String(cString: strerror(errno)))")
    }
}

/// Non-printable bytes as \xNN (test messages only).
private func shownBytes(_ b: [UInt8]) -> String {
    b.map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
@discardableResult
public func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while true {
        if condition() { return true }
        if monotonicSeconds() > deadline { return false }
        usleep(20_000)
    }
}

public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
