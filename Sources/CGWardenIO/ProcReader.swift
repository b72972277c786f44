#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// A /proc file that could not be read or parsed.
public struct ProcError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Reads the node-wide figures and per-process details from /proc
/// (`--proc DIR` points it at a fixture).
public final class ProcReader {
    public let proc: String
    let fs: FileSystem
    let buffer = ReadBuffer()
    private var dirFD: Int32?

    public init(proc: String = "/proc", fileSystem: FileSystem = LinuxFileSystem()) {
        self.proc = proc
        self.fs = fileSystem
    }

    deinit { if let dirFD { fs.close(dirFD) } }

    private func dir() throws(ProcError) -> Int32 {
        if let dirFD { return dirFD }
        do {
            let fd = try fs.openDirectory(path: proc)
            dirFD = fd
            return fd
        } catch {
            throw ProcError(message: "cannot open \(error.at(proc))")
        }
    }

    private func read<T>(_ name: String, _ parse: (Bytes, String) throws(ParseError) -> T) throws(ProcError) -> T {
        let d = try dir()
        let full = proc + "/" + name
        do {
            return try parse(try buffer.readFile(name, in: d, fs: fs), full)
        } catch let e as SystemError {
            throw ProcError(message: "cannot read \(e.at(full))")
        } catch {
            throw ProcError(message: "\(error)")
        }
    }

    /// `/proc/meminfo` (required), `/proc/pressure/memory` (nil without PSI)
    /// and `oom_kill` of `/proc/vmstat` (nil before 4.13).
    public func system() throws(ProcError) -> SystemSnapshot {
        let meminfo = try read("meminfo", Parse.meminfo)
        let pressure = try? read("pressure/memory", Parse.pressure)
        let vmstat = try? read("vmstat", Parse.vmstat)
        return SystemSnapshot(meminfo: meminfo, pressure: pressure, oomKill: vmstat?["oom_kill"])
    }

    /// What the kernel's OOM killer knows of a process; nil when it exited.
    public func process(_ pid: Int32) -> ProcessInfo? {
        let p = String(pid)
        guard let comm = try? read(p + "/comm", { b, _ in String(decoding: b, as: UTF8.self) }),
              let pages = try? read(p + "/statm", Parse.statmResidentPages),
              let score = try? read(p + "/oom_score", Parse.integer),
              let adj = try? read(p + "/oom_score_adj", Parse.integer) else { return nil }
        var command = comm
        if command.hasSuffix("\n") { command.removeLast() }
        // Saturates: a forged statm may count more pages than 64 bits of bytes hold.
        return ProcessInfo(pid: pid, command: command, rss: pages.multipliedSaturated(by: ProcReader.pageSize),
                           oomScore: score, oomScoreAdj: adj)
    }

    /// The cgroup v2 path of `pid` (default: this process), from `PID/cgroup`.
    public func cgroup(of pid: String = "self") throws(ProcError) -> CgroupPath? {
        try read(pid + "/cgroup", Parse.procCgroup)
    }

    static let pageSize = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
}
