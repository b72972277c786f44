#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// The control files of a cgroup that cgwarden reads: each file's name,
/// the snapshot field it fills, and whether the memory controller makes it,
/// written once (`info`). The raw value is the file's place in tables
/// indexed by file (the sampler's kept-open descriptors).
public enum CgroupFile: Int, CaseIterable, Sendable {
    case current, max, high, low, min, peak, swapCurrent, swapMax, events, eventsLocal, pressure, stat,
         cgroupEvents, procs, cgroupStat, subtreeControl, controllers

    /// Name, the field it is read for, and whether it exists only with the memory controller.
    private var info: (name: String, field: SnapshotFields, memoryController: Bool) {
        switch self {
        case .current: return ("memory.current", .usage, true)
        case .max: return ("memory.max", .limits, true)
        case .high: return ("memory.high", .limits, true)
        case .low: return ("memory.low", .limits, true)
        case .min: return ("memory.min", .limits, true)
        case .peak: return ("memory.peak", .peak, true)
        case .swapCurrent: return ("memory.swap.current", .swap, true)
        case .swapMax: return ("memory.swap.max", .swap, true)
        case .events: return ("memory.events", .events, true)
        case .eventsLocal: return ("memory.events.local", .eventsLocal, true)
        // PSI files exist without the memory controller (the root has them).
        case .pressure: return ("memory.pressure", .pressure, false)
        case .stat: return ("memory.stat", [.stat, .statSummary], true)
        case .cgroupEvents: return ("cgroup.events", .populated, false)
        case .procs: return ("cgroup.procs", [.procs, .procCount], false)
        case .cgroupStat: return ("cgroup.stat", .cgroupStat, false)
        case .subtreeControl: return ("cgroup.subtree_control", [], false)
        case .controllers: return ("cgroup.controllers", [], false)
        }
    }

    public var name: String { info.name }
    /// The snapshot fields this file is read for.
    public var field: SnapshotFields { info.field }
    /// Made by the memory controller: present only where it is enabled.
    public var needsMemoryController: Bool { info.memoryController }
    /// Position in `allCases`, for tables indexed by file.
    public var index: Int { rawValue }

    /// The files a set of fields needs, for a group with or without the memory controller.
    public static func files(for fields: SnapshotFields, memory: Bool) -> [CgroupFile] {
        allCases.filter { !$0.field.isDisjoint(with: fields) && (memory || !$0.needsMemoryController) }
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

        // Inlined: a generic call per file returned each value through a copy (memcpy).
        @inline(__always)
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
            if fields.contains(.stat) {
                m.stat = try get(.stat, Parse.memoryStat)
            } else if fields.contains(.statSummary) {
                m.stat = try get(.stat, Parse.memoryStatSummary)
            }
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
