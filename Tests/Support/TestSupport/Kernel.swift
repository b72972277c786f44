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
    var st = stat()
    guard stat(dir, &st) == 0 else { return }
    if let fd = Optional(open(dir + "/cgroup.kill", O_WRONLY | O_CLOEXEC)), fd >= 0 {
        _ = Glibc.write(fd, "1", 1)
        close(fd)
    }
    _ = waitUntil(seconds: 10) { readFile(dir + "/cgroup.events")?.contains("populated 0") ?? true }
    if let d = opendir(dir) {
        var children: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if e.pointee.d_type == UInt8(DT_DIR), name != ".", name != ".." { children.append(name) }
        }
        closedir(d)
        for c in children { removeGroup(dir + "/" + c) }
    }
    // A group whose last process just died may need a moment before rmdir succeeds.
    _ = waitUntil(seconds: 5) { rmdir(dir) == 0 || errno == ENOENT }
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
