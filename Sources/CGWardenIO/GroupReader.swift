#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// The control files of a cgroup that cgwarden reads.
public enum CgroupFile: String, CaseIterable, Sendable {
    case current = "memory.current"
    case max = "memory.max"
    case high = "memory.high"
    case low = "memory.low"
    case min = "memory.min"
    case peak = "memory.peak"
    case swapCurrent = "memory.swap.current"
    case swapMax = "memory.swap.max"
    case events = "memory.events"
    case eventsLocal = "memory.events.local"
    case pressure = "memory.pressure"
    case stat = "memory.stat"
    case cgroupEvents = "cgroup.events"
    case procs = "cgroup.procs"
    case cgroupStat = "cgroup.stat"
    case subtreeControl = "cgroup.subtree_control"
    case controllers = "cgroup.controllers"

    public var name: String { rawValue }

    /// Position in `allCases`, for tables indexed by file.
    public var index: Int {
        switch self {
        case .current: return 0
        case .max: return 1
        case .high: return 2
        case .low: return 3
        case .min: return 4
        case .peak: return 5
        case .swapCurrent: return 6
        case .swapMax: return 7
        case .events: return 8
        case .eventsLocal: return 9
        case .pressure: return 10
        case .stat: return 11
        case .cgroupEvents: return 12
        case .procs: return 13
        case .cgroupStat: return 14
        case .subtreeControl: return 15
        case .controllers: return 16
        }
    }

    /// The files a set of fields needs, for a group with or without the memory controller.
    public static func files(for fields: SnapshotFields, memory: Bool) -> [CgroupFile] {
        var out: [CgroupFile] = []
        if memory {
            if fields.contains(.usage) { out.append(.current) }
            if fields.contains(.limits) { out += [.max, .high, .low, .min] }
            if fields.contains(.peak) { out.append(.peak) }
            if fields.contains(.swap) { out += [.swapCurrent, .swapMax] }
            if fields.contains(.events) { out.append(.events) }
            if fields.contains(.eventsLocal) { out.append(.eventsLocal) }
            if fields.contains(.stat) { out.append(.stat) }
        }
        if fields.contains(.pressure) { out.append(.pressure) }
        if fields.contains(.populated) { out.append(.cgroupEvents) }
        if fields.contains(.procs) || fields.contains(.procCount) { out.append(.procs) }
        if fields.contains(.cgroupStat) { out.append(.cgroupStat) }
        return out
    }
}

/// A problem with one cgroup that did not stop the walk: a file that could
/// not be read (other than because the group vanished) or held malformed text.
/// The field is then left nil; nothing half-read is reported.
public struct CgroupReadError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case system(SystemError)
        case parse(ParseError)
        /// The group itself could not be opened or examined (not vanished):
        /// it is missing from the snapshot, and said so.
        case unread(SystemError)
    }
    public var cgroup: CgroupPath
    public var kind: Kind

    public init(cgroup: CgroupPath, kind: Kind) {
        self.cgroup = cgroup
        self.kind = kind
    }

    public var description: String {
        switch kind {
        case .system(let e): return "cgroup \(cgroup): \(e)"
        case .parse(let e): return "cgroup \(cgroup): \(e)"
        case .unread(let e): return "cgroup \(cgroup) not read: \(e)"
        }
    }
}

/// Thrown while reading a group that was removed under us.
struct Vanished: Error {}

/// How a group's files are reached: open/read/close each time (a one-off
/// walk), or descriptors kept open and re-read with `pread` (the sampler).
protocol GroupFileAccess {
    /// The file's whole content, valid until the next call; nil when the file
    /// is already known to be absent from this group.
    mutating func contents(of file: CgroupFile) throws(SystemError) -> Bytes?
    /// Tells an absent file from a removed group after ENOENT: `cgroup.procs`
    /// exists in every cgroup, the root included.
    mutating func groupExists() -> Bool
    /// Remembers that the (live) group has no such file.
    mutating func markAbsent(_ file: CgroupFile)
    /// The group's owner and oomd attributes (from its directory descriptor).
    mutating func attributes() throws(SystemError) -> CgroupAttributes
}

extension GroupFileAccess {
    /// Reads owner and attributes through `fs` on the group's directory descriptor.
    static func readAttributes(dir: Int32, fs: FileSystem) throws(SystemError) -> CgroupAttributes {
        let owner = try fs.status(dir).uid
        var values: [String: String] = [:]
        for name in CgroupAttributes.names {
            if let v = try fs.extendedAttribute(dir, name) { values[name] = v }
        }
        return CgroupAttributes(ownerUID: owner, values: values)
    }
}

/// Reads the asked-for fields of one group through some access.
struct GroupReader {
    /// Reads one group. Throws `Vanished` when the group disappeared during
    /// the read: its partial values are then dropped, never reported.
    static func read<A: GroupFileAccess>(
        path: CgroupPath, id: UInt64, memoryEnabled: Bool, fields: SnapshotFields,
        access: inout A, problems: inout [CgroupReadError]
    ) throws(Vanished) -> CgroupSnapshot {
        var g = CgroupSnapshot(path: path, id: id)

        func get<T>(_ file: CgroupFile, _ parse: (Bytes, String) throws(ParseError) -> T) throws(Vanished) -> T? {
            let bytes: Bytes
            do {
                guard let b = try access.contents(of: file) else { return nil }
                bytes = b
            } catch {
                if error.errno == ENODEV { throw Vanished() }
                if error.errno == ENOENT {
                    // Either the file does not exist here (memory.peak before 5.19,
                    // swap files without swap accounting, a fixture without it) or the
                    // whole group was removed: ask the group.
                    if access.groupExists() {
                        access.markAbsent(file)
                        return nil
                    }
                    throw Vanished()
                }
                problems.append(CgroupReadError(cgroup: path, kind: .system(error.at(file.name))))
                return nil
            }
            do {
                return try parse(bytes, file.name)
            } catch {
                problems.append(CgroupReadError(cgroup: path, kind: .parse(error)))
                return nil
            }
        }

        if memoryEnabled && !fields.intersection(SnapshotFields.memoryFiles).isEmpty {
            var m = MemoryState()
            if fields.contains(.usage) { m.current = try get(.current, Parse.bytes) }
            if fields.contains(.limits) {
                m.max = try get(.max, Parse.limit)
                m.high = try get(.high, Parse.limit)
                m.low = try get(.low, Parse.limit)
                m.min = try get(.min, Parse.limit)
            }
            if fields.contains(.peak) { m.peak = try get(.peak, Parse.bytes) }
            if fields.contains(.swap) {
                m.swapCurrent = try get(.swapCurrent, Parse.bytes)
                m.swapMax = try get(.swapMax, Parse.limit)
            }
            if fields.contains(.events) { m.events = try get(.events, Parse.memoryEvents) }
            if fields.contains(.eventsLocal) { m.eventsLocal = try get(.eventsLocal, Parse.memoryEvents) }
            if fields.contains(.stat) { m.stat = try get(.stat, Parse.memoryStat) }
            g.memory = m
        }
        if fields.contains(.pressure) { g.pressure = try get(.pressure, Parse.pressure) }
        if fields.contains(.populated) { g.events = try get(.cgroupEvents, Parse.cgroupEvents) }
        if fields.contains(.procs) {
            g.procs = try get(.procs, Parse.pids)
            g.nrProcs = g.procs?.count
        } else if fields.contains(.procCount) {
            g.nrProcs = try get(.procs, Parse.pidCount)
        }
        if fields.contains(.cgroupStat) { g.cgroupStat = try get(.cgroupStat, Parse.cgroupStat) }
        if fields.contains(.attributes) {
            do {
                g.attributes = try access.attributes()
            } catch {
                if error.isVanished { throw Vanished() }
                problems.append(CgroupReadError(cgroup: path, kind: .system(error.at("extended attributes"))))
            }
        }
        return g
    }
}
