/// Reads snapshots back from their JSON form (a recording line, or a
/// `status --json` document): the inverse of `SnapshotJSON.swift`.
public struct SnapshotDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where in the document, e.g. `cgroups[3].memory.max`.
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

extension Snapshot {
    /// A recording line: `{"time": {...}, "root": ..., "system": {...}, "cgroups": [...]}`.
    public init(json: JSON) throws(SnapshotDecodingError) {
        let d = JSONFields(json, at: "")
        let time = try d.object("time")
        self.init(root: try d.string("root"),
                  time: Timestamp(monotonicNanos: try time.uint("monotonic_ns"), wallNanos: try time.uint("wall_ns")),
                  system: try SystemSnapshot(try d.object("system")),
                  cgroups: try d.array("cgroups").map { g throws(SnapshotDecodingError) in try CgroupSnapshot(g) })
    }

    /// The recording line of this snapshot (the status document plus time,
    /// memory.stat and attributes where read).
    public var recordJSON: JSON {
        .object([
            ("time", .object([("monotonic_ns", .uint(time.monotonicNanos)), ("wall_ns", .uint(time.wallNanos))])),
            ("root", .string(root)),
            ("system", system.json),
            ("cgroups", .array(cgroups.map { $0.json() })),
        ])
    }
}

/// Typed access to a JSON object with the path of every field for errors.
struct JSONFields {
    let value: JSON
    let at: String

    init(_ value: JSON, at: String) {
        self.value = value
        self.at = at
    }

    func name(_ key: String) -> String { at.isEmpty ? key : "\(at).\(key)" }

    func fail(_ key: String, _ message: String) -> SnapshotDecodingError {
        SnapshotDecodingError(field: name(key), message: message)
    }

    func raw(_ key: String) throws(SnapshotDecodingError) -> JSON {
        guard case .object = value else { throw SnapshotDecodingError(field: at.isEmpty ? "document" : at, message: "is not an object") }
        guard let v = value[key] else { throw fail(key, "is missing") }
        return v
    }

    func optional(_ key: String) -> JSON? {
        guard let v = value[key], !v.isNull else { return nil }
        return v
    }

    func object(_ key: String) throws(SnapshotDecodingError) -> JSONFields {
        let v = try raw(key)
        guard case .object = v else { throw fail(key, "is not an object") }
        return JSONFields(v, at: name(key))
    }

    func optionalObject(_ key: String) throws(SnapshotDecodingError) -> JSONFields? {
        guard let v = optional(key) else { return nil }
        guard case .object = v else { throw fail(key, "is not an object or null") }
        return JSONFields(v, at: name(key))
    }

    func array(_ key: String) throws(SnapshotDecodingError) -> [JSONFields] {
        guard let a = try raw(key).arrayValue else { throw fail(key, "is not an array") }
        return a.enumerated().map { JSONFields($1, at: "\(name(key))[\($0)]") }
    }

    func string(_ key: String) throws(SnapshotDecodingError) -> String {
        guard let s = try raw(key).stringValue else { throw fail(key, "is not a string") }
        return s
    }

    func uint(_ key: String) throws(SnapshotDecodingError) -> UInt64 {
        guard let u = try raw(key).uint64Value else { throw fail(key, "is not a whole number of 0 or more") }
        return u
    }

    func optionalUInt(_ key: String) throws(SnapshotDecodingError) -> UInt64? {
        guard let v = optional(key) else { return nil }
        guard let u = v.uint64Value else { throw fail(key, "is not a whole number of 0 or more, nor null") }
        return u
    }

    func double(_ key: String) throws(SnapshotDecodingError) -> Double {
        guard let d = try raw(key).numberValue else { throw fail(key, "is not a number") }
        return d
    }

    /// A limit: bytes, or null for `max`.
    func limit(_ key: String) throws(SnapshotDecodingError) -> Limit? {
        guard value[key] != nil else { return nil }
        return try optionalUInt(key).map { .bytes($0) } ?? .max
    }

    func counters(_ key: String) throws(SnapshotDecodingError) -> KeyedCounters? {
        guard let o = try optionalObject(key), let pairs = o.value.objectValue else { return nil }
        var k = KeyedCounters()
        var seen = SeenKeys()
        for (name, v) in pairs {
            guard let u = v.uint64Value else { throw o.fail(name, "is not a whole number of 0 or more") }
            // As in the kernel file: a key twice is malformed, not silently shadowed.
            guard seen.insert(name, known: nil) else { throw o.fail(name, "appears twice") }
            k.append(name, u)
        }
        return k
    }
}

extension Pressure {
    init(_ d: JSONFields) throws(SnapshotDecodingError) {
        func line(_ l: JSONFields) throws(SnapshotDecodingError) -> PressureLine {
            PressureLine(avg10: try l.double("avg10"), avg60: try l.double("avg60"), avg300: try l.double("avg300"),
                         total: try l.uint("total"))
        }
        self.init(some: try line(try d.object("some")), full: try d.optionalObject("full").map { f throws(SnapshotDecodingError) in try line(f) })
    }
}

extension SystemSnapshot {
    init(_ d: JSONFields) throws(SnapshotDecodingError) {
        self.init(meminfo: MemInfo(memTotal: try d.uint("mem_total"), memAvailable: try d.uint("mem_available"),
                                   swapTotal: try d.uint("swap_total"), swapFree: try d.uint("swap_free")),
                  pressure: try d.optionalObject("pressure").map { p throws(SnapshotDecodingError) in try Pressure(p) },
                  oomKill: try d.optionalUInt("oom_kill"))
    }
}

extension CgroupSnapshot {
    init(_ d: JSONFields) throws(SnapshotDecodingError) {
        let pathText = try d.string("path")
        guard let path = CgroupPath(pathText) else { throw d.fail("path", "'\(pathText)' is not a cgroup path") }
        var g = CgroupSnapshot(path: path, id: try d.uint("id"))
        if let m = try d.optionalObject("memory") {
            g.memory = MemoryState(
                current: try m.optionalUInt("current"), max: try m.limit("max"), high: try m.limit("high"),
                low: try m.limit("low"), min: try m.limit("min"), peak: try m.optionalUInt("peak"),
                swapCurrent: try m.optionalUInt("swap_current"),
                swapMax: m.value["swap_current"]?.isNull == false ? try m.limit("swap_max") : nil,
                events: try d.counters("events").map { MemoryEvents($0) },
                eventsLocal: try d.counters("events_local").map { MemoryEvents($0) },
                stat: try d.counters("stat"))
        }
        g.pressure = try d.optionalObject("pressure").map { p throws(SnapshotDecodingError) in try Pressure(p) }
        if let p = d.optional("populated") {
            guard let b = p.boolValue else { throw d.fail("populated", "is not true, false or null") }
            g.events = CgroupEvents(populated: b, frozen: nil)
        }
        if let n = try d.optionalUInt("nr_procs") {
            // Int(n) traps above Int.max; the kernel caps pids far below (PID_MAX_LIMIT, 2^22).
            guard n <= UInt64(Int32.max) else { throw d.fail("nr_procs", "\(n) is not a process count") }
            g.nrProcs = Int(n)
        }
        if let a = try d.optionalObject("attributes") {
            let owner = try a.uint("owner_uid")
            guard owner <= UInt64(UInt32.max) else { throw a.fail("owner_uid", "is not a uid") }
            var values: [String: String] = [:]
            for (k, v) in try a.object("values").value.objectValue ?? [] {
                guard let s = v.stringValue else { throw a.fail("values.\(k)", "is not a string") }
                values[k] = s
            }
            g.attributes = CgroupAttributes(ownerUID: UInt32(owner), values: values)
        }
        self = g
    }
}
