/// The daemon's flight recorder: the snapshots of the last minutes, kept
/// compact in memory, written as a recording (Docs/recording.md) beside each
/// kill so that `explain --replay` on it reaches the same victim.
///
/// Only what a replay reads is kept (`projected`): per group its path, id,
/// usage, limits, swap, the three parts of unreclaimable memory, the six
/// `memory.events` counters, PSI, `populated`, the process count and the
/// preference attributes; per snapshot the node's four memory figures, its
/// PSI and `oom_kill`. Not `memory.peak`, `swap.max`, `memory.events.local`,
/// the rest of `memory.stat`, pids.
///
/// Encoding: segments, each a full first snapshot (ids, paths, attributes
/// once per segment) then per snapshot only the values that changed, as
/// the XOR with the previous value in LEB128 (a group whose figures did not
/// move costs nothing; a usage that moved by a few MiB costs 3 bytes). A
/// segment ends after 64 snapshots or an eighth of the byte cap; the oldest
/// segment goes when the bytes pass the cap or the rest still covers the
/// window. Memory: the bytes held (at most the cap, plus the segment being
/// written when the cap is below one full snapshot), and, for the segment
/// being written, the previous values of its groups (25 × 8 bytes each).
public struct FlightRecorder: Sendable {
    public let window: Duration
    public let maxBytes: Int
    /// Snapshots per segment: a full snapshot every 64 keeps the part that
    /// goes at once small, and costs one full snapshot per 64.
    public static let snapshotsPerSegment = 64

    private var segments: [Segment] = []
    private var encoder = Encoder()
    public private(set) var root: String?

    public init(window: Duration, maxBytes: Int) {
        self.window = window
        self.maxBytes = max(0, maxBytes)
    }

    /// Encoded bytes held.
    public var bytes: Int { segments.reduce(0) { $0 + $1.bytes.count } }
    /// Snapshots held (some older than the window, in its oldest segment).
    public var count: Int { segments.reduce(0) { $0 + $1.frames } }
    /// The newest snapshot's time.
    public var newest: Timestamp? { segments.last?.last }

    public var isEnabled: Bool { window > .zero && maxBytes > 0 }

    /// Keeps `snapshot` (projected).
    public mutating func append(_ snapshot: Snapshot) {
        guard isEnabled else { return }
        // Another root, or a time before the last (a recording's times only
        // go forward): what is held is not this run's past.
        if root != snapshot.root || segments.last.map({ snapshot.time < $0.last }) == true {
            segments = []
            root = snapshot.root
        }
        if let last = segments.last, last.frames >= Self.snapshotsPerSegment || last.bytes.count >= max(1, maxBytes / 8) {
            segments.append(Segment())
            encoder = Encoder()
        } else if segments.isEmpty {
            segments.append(Segment())
            encoder = Encoder()
        }
        let k = segments.count - 1
        encoder.encode(snapshot, into: &segments[k].bytes)
        if segments[k].frames == 0 { segments[k].first = snapshot.time }
        segments[k].frames += 1
        segments[k].last = snapshot.time
        let horizon = snapshot.time.monotonicNanos.subtractingSaturated(window.nanosecondsClamped)
        var total = bytes
        while segments.count > 1 && (total > maxBytes || segments[1].first.monotonicNanos <= horizon) {
            total -= segments[0].bytes.count
            segments.removeFirst()
        }
    }

    /// The snapshots within the window, oldest first, as a replay reads them.
    public func snapshots() -> [Snapshot] {
        var out: [Snapshot] = []
        forEachSnapshot { out.append($0) }
        return out
    }

    /// Calls `body` with each snapshot within the window, oldest first,
    /// decoded one at a time (a recording is written without holding them all).
    public func forEachSnapshot(_ body: (Snapshot) -> Void) {
        guard let root, let newest else { return }
        let horizon = newest.monotonicNanos.subtractingSaturated(window.nanosecondsClamped)
        for segment in segments {
            var decoder = Decoder(bytes: segment.bytes, root: root)
            while let s = decoder.next() {
                if s.time.monotonicNanos >= horizon { body(s) }
            }
        }
    }

    /// The recording: the header and one line per snapshot (Docs/recording.md).
    public func recordingLines(intervalNanos: UInt64, _ line: (String) -> Void) {
        guard let root else { return }
        line(Recording.header(root: root, intervalNanos: intervalNanos).serialized())
        forEachSnapshot { line($0.recordJSON.serialized()) }
    }

    /// What a replay reads of `snapshot`: what the recorder keeps.
    public static func projected(_ snapshot: Snapshot) -> Snapshot {
        var s = snapshot
        s.system = SystemSnapshot(meminfo: MemInfo(memTotal: s.system.meminfo.memTotal, memAvailable: s.system.meminfo.memAvailable,
                                                   swapTotal: s.system.meminfo.swapTotal, swapFree: s.system.meminfo.swapFree),
                                  pressure: s.system.pressure, oomKill: s.system.oomKill)
        s.cgroups = s.cgroups.map { g in
            var p = CgroupSnapshot(path: g.path, id: g.id, pressure: g.pressure, nrProcs: g.nrProcs, attributes: g.attributes)
            if let e = g.events { p.events = CgroupEvents(populated: e.populated, frozen: nil) }
            if let m = g.memory {
                p.memory = MemoryState(current: m.current, max: m.max, high: m.high, low: m.low, min: m.min,
                                       swapCurrent: m.swapCurrent, events: m.events.map { projected($0) },
                                       stat: m.stat.map { projected(stat: $0) })
            }
            return p
        }
        return s
    }

    static let eventKeys = ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]

    static func projected(_ e: MemoryEvents) -> MemoryEvents {
        MemoryEvents(low: e.low, high: e.high, max: e.max, oom: e.oom, oomKill: e.oomKill, oomGroupKill: e.oomGroupKill)
    }

    /// The three parts of `MemoryState.unreclaimable`, `kernel` summed from
    /// its parts on kernels before 5.18 as the policy does.
    static func projected(stat: KeyedCounters) -> KeyedCounters { MemoryState.statSummary(stat) }

    struct Segment: Sendable {
        var bytes: [UInt8] = []
        var frames = 0
        var first = Timestamp(monotonicNanos: 0, wallNanos: 0)
        var last = Timestamp(monotonicNanos: 0, wallNanos: 0)
    }
}

// MARK: - the encoding

/// A group's values as the recorder keeps them: slot 0 says which are
/// present (and which limits read `max`), the others are numbers or the bits
/// of a double.
enum FlightSlots {
    static let groupSlots = 25
    static let systemSlots = 14

    // Group slots.
    static let flags = 0, current = 1, max = 2, high = 3, low = 4, min = 5, swap = 6, anon = 7, shmem = 8, kernel = 9
    static let events = 10 // 10...15: low, high, max, oom, oom_kill, oom_group_kill
    static let some = 16 // 16...19: avg10, avg60, avg300, total
    static let full = 20 // 20...23
    static let procs = 24

    // Flag bits.
    static let hasMemory: UInt64 = 1 << 0, hasCurrent: UInt64 = 1 << 1, hasSwap: UInt64 = 1 << 2, hasStat: UInt64 = 1 << 3
    static let hasEvents: UInt64 = 1 << 4, hasPressure: UInt64 = 1 << 5, hasFull: UInt64 = 1 << 6
    static let hasPopulated: UInt64 = 1 << 7, populated: UInt64 = 1 << 8, hasProcs: UInt64 = 1 << 9
    /// PSI averages kept as the bits of their doubles (not two-decimal figures).
    static let rawPressure: UInt64 = 1 << 10
    /// Per limit (max, high, low, min: i = 0...3): present, and `max`.
    static func hasLimit(_ i: Int) -> UInt64 { 1 << UInt64(16 + 2 * i) }
    static func limitIsMax(_ i: Int) -> UInt64 { 1 << UInt64(17 + 2 * i) }

    static func group(_ g: CgroupSnapshot, into v: inout [UInt64]) {
        for i in v.indices { v[i] = 0 }
        var f: UInt64 = 0
        if let m = g.memory {
            f |= hasMemory
            if let c = m.current { f |= hasCurrent; v[current] = c }
            limit(m.max, 0, &f, &v)
            limit(m.high, 1, &f, &v)
            limit(m.low, 2, &f, &v)
            limit(m.min, 3, &f, &v)
            if let s = m.swapCurrent { f |= hasSwap; v[swap] = s }
            if let stat = m.stat {
                f |= hasStat
                v[anon] = stat["anon"] ?? 0
                v[shmem] = stat["shmem"] ?? 0
                v[kernel] = MemoryState.kernel(stat)
            }
            if let e = m.events {
                f |= hasEvents
                v[events] = e.low
                v[events + 1] = e.high
                v[events + 2] = e.max
                v[events + 3] = e.oom
                v[events + 4] = e.oomKill
                v[events + 5] = e.oomGroupKill
            }
        }
        if let p = g.pressure {
            f |= hasPressure
            var exact = hundredths(p.some)
            if let full = p.full {
                f |= hasFull
                exact = exact && hundredths(full)
            }
            if !exact { f |= rawPressure }
            line(p.some, at: some, raw: !exact, into: &v)
            if let full = p.full { line(full, at: FlightSlots.full, raw: !exact, into: &v) }
        }
        if let e = g.events { f |= hasPopulated | (e.populated ? populated : 0) }
        if let n = g.nrProcs { f |= hasProcs; v[procs] = UInt64(truncatingIfNeeded: n) }
        v[flags] = f
    }

    static func limit(_ l: Limit?, _ i: Int, _ f: inout UInt64, _ v: inout [UInt64]) {
        guard let l else { return }
        f |= hasLimit(i)
        switch l {
        case .max: f |= limitIsMax(i)
        case .bytes(let b): v[max + i] = b
        }
    }

    /// The kernel writes PSI averages with two decimals: kept as hundredths
    /// (a byte or two) when that gives back the same double, else as its bits.
    static func hundredths(_ l: PressureLine) -> Bool {
        exactHundredths(l.avg10) != nil && exactHundredths(l.avg60) != nil && exactHundredths(l.avg300) != nil
    }

    static func exactHundredths(_ d: Double) -> UInt64? {
        let scaled = (d * 100).rounded()
        guard scaled >= 0, scaled < 1e15 else { return nil }
        let h = UInt64(scaled)
        return Double(h) / 100 == d && d.sign == .plus ? h : nil
    }

    static func line(_ l: PressureLine, at k: Int, raw: Bool, into v: inout [UInt64]) {
        func value(_ d: Double) -> UInt64 { raw ? d.bitPattern : exactHundredths(d) ?? 0 }
        v[k] = value(l.avg10)
        v[k + 1] = value(l.avg60)
        v[k + 2] = value(l.avg300)
        v[k + 3] = l.total
    }

    static func pressureLine(_ v: ArraySlice<UInt64>, at k: Int, raw: Bool) -> PressureLine {
        func value(_ u: UInt64) -> Double { raw ? Double(bitPattern: u) : Double(u) / 100 }
        return PressureLine(avg10: value(v[k]), avg60: value(v[k + 1]), avg300: value(v[k + 2]), total: v[k + 3])
    }

    static func group(path: CgroupPath, id: UInt64, attributes: CgroupAttributes?, _ v: ArraySlice<UInt64>) -> CgroupSnapshot {
        let b = v.startIndex
        let f = v[b + flags]
        var g = CgroupSnapshot(path: path, id: id, attributes: attributes)
        if f & hasMemory != 0 {
            func limit(_ i: Int) -> Limit? {
                guard f & hasLimit(i) != 0 else { return nil }
                return f & limitIsMax(i) != 0 ? .max : .bytes(v[b + max + i])
            }
            let e = b + events
            g.memory = MemoryState(
                current: f & hasCurrent != 0 ? v[b + current] : nil, max: limit(0), high: limit(1), low: limit(2), min: limit(3),
                swapCurrent: f & hasSwap != 0 ? v[b + swap] : nil,
                events: f & hasEvents != 0
                    ? MemoryEvents(low: v[e], high: v[e + 1], max: v[e + 2], oom: v[e + 3], oomKill: v[e + 4],
                                   oomGroupKill: v[e + 5]) : nil,
                stat: f & hasStat != 0 ? KeyedCounters(["anon": v[b + anon], "shmem": v[b + shmem], "kernel": v[b + kernel]]) : nil)
        }
        if f & hasPressure != 0 {
            let raw = f & rawPressure != 0
            g.pressure = Pressure(some: pressureLine(v, at: b + some, raw: raw),
                                  full: f & hasFull != 0 ? pressureLine(v, at: b + full, raw: raw) : nil)
        }
        if f & hasPopulated != 0 { g.events = CgroupEvents(populated: f & populated != 0, frozen: nil) }
        if f & hasProcs != 0 { g.nrProcs = Int(truncatingIfNeeded: Int32(truncatingIfNeeded: v[b + procs])) }
        return g
    }

    // System slots: 0 flags (1 pressure, 2 full, 4 oom_kill, 8 raw PSI), 1...4 meminfo, 5 oom_kill, 6...9 some, 10...13 full.
    static func system(_ s: SystemSnapshot, into v: inout [UInt64]) {
        for i in v.indices { v[i] = 0 }
        var f: UInt64 = 0
        v[1] = s.meminfo.memTotal
        v[2] = s.meminfo.memAvailable
        v[3] = s.meminfo.swapTotal
        v[4] = s.meminfo.swapFree
        if let k = s.oomKill { f |= 4; v[5] = k }
        if let p = s.pressure {
            f |= 1
            let raw = !(hundredths(p.some) && p.full.map(hundredths) != false)
            if raw { f |= 8 }
            line(p.some, at: 6, raw: raw, into: &v)
            if let full = p.full { f |= 2; line(full, at: 10, raw: raw, into: &v) }
        }
        v[0] = f
    }

    static func system(_ v: [UInt64]) -> SystemSnapshot {
        let f = v[0], raw = f & 8 != 0
        let pressure = f & 1 != 0
            ? Pressure(some: pressureLine(v[...], at: 6, raw: raw), full: f & 2 != 0 ? pressureLine(v[...], at: 10, raw: raw) : nil) : nil
        return SystemSnapshot(meminfo: MemInfo(memTotal: v[1], memAvailable: v[2], swapTotal: v[3], swapFree: v[4]),
                              pressure: pressure, oomKill: f & 4 != 0 ? v[5] : nil)
    }
}

/// LEB128 writing and bounded reading.
enum Varint {
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    static func appendBytes(_ b: [UInt8], to out: inout [UInt8]) {
        append(UInt64(b.count), to: &out)
        out += b
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var at = 0

    var atEnd: Bool { at >= bytes.count }

    mutating func varint() -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while at < bytes.count, shift < 64 {
            let b = bytes[at]
            at += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    mutating func count(_ limit: Int) -> Int? {
        guard limit >= 0, let v = varint(), v <= UInt64(limit) else { return nil }
        return Int(v)
    }

    mutating func data() -> [UInt8]? {
        guard let n = count(bytes.count - at) else { return nil }
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }
}

extension FlightRecorder {
    /// The writer's state within one segment.
    struct Encoder: Sendable {
        var index: [UInt64: Int] = [:]
        var attributes: [CgroupAttributes?] = []
        /// `groupSlots` values per table entry.
        var previous: [UInt64] = []
        var list: [Int] = []
        var system = [UInt64](repeating: 0, count: FlightSlots.systemSlots)
        var time = Timestamp(monotonicNanos: 0, wallNanos: 0)
        private var values = [UInt64](repeating: 0, count: FlightSlots.groupSlots)
        private var systemValues = [UInt64](repeating: 0, count: FlightSlots.systemSlots)

        /// Frame: Δmonotonic, Δwall (zigzag); the system's changed slots;
        /// new table entries (id, path, attributes); attributes changed;
        /// the group list (0: as before, or 1, count, indices); the changed
        /// groups (Δposition, slot mask, XORs).
        mutating func encode(_ s: Snapshot, into out: inout [UInt8]) {
            Varint.append(Varint.zigzag(Int64(bitPattern: s.time.monotonicNanos &- time.monotonicNanos)), to: &out)
            Varint.append(Varint.zigzag(Int64(bitPattern: s.time.wallNanos &- time.wallNanos)), to: &out)
            time = s.time
            FlightSlots.system(s.system, into: &systemValues)
            Self.changes(systemValues, against: &system[...], into: &out)

            var positions: [Int] = []
            positions.reserveCapacity(s.cgroups.count)
            var added: [(position: Int, index: Int)] = []
            var changedAttributes: [(position: Int, index: Int)] = []
            for (position, g) in s.cgroups.enumerated() {
                if let i = index[g.id] {
                    positions.append(i)
                    if attributes[i] != g.attributes { changedAttributes.append((position, i)) }
                } else {
                    let i = attributes.count
                    index[g.id] = i
                    attributes.append(nil)
                    previous += repeatElement(0, count: FlightSlots.groupSlots)
                    positions.append(i)
                    added.append((position, i))
                    if g.attributes != nil { changedAttributes.append((position, i)) }
                }
            }
            Varint.append(UInt64(added.count), to: &out)
            for a in added {
                Varint.append(s.cgroups[a.position].id, to: &out)
                Varint.appendBytes(s.cgroups[a.position].path.bytes, to: &out)
            }
            Varint.append(UInt64(changedAttributes.count), to: &out)
            for c in changedAttributes {
                let a = s.cgroups[c.position].attributes
                Varint.append(UInt64(c.index), to: &out)
                Self.append(a, to: &out)
                attributes[c.index] = a
            }
            if positions == list {
                Varint.append(0, to: &out)
            } else {
                Varint.append(1, to: &out)
                Varint.append(UInt64(positions.count), to: &out)
                for i in positions { Varint.append(UInt64(i), to: &out) }
                list = positions
            }
            // Changed groups: counted first, so the body is built aside.
            var body: [UInt8] = []
            var changed = 0
            var lastPosition = -1
            for (position, g) in s.cgroups.enumerated() {
                FlightSlots.group(g, into: &values)
                let base = positions[position] * FlightSlots.groupSlots
                var mask: UInt64 = 0
                for k in 0..<FlightSlots.groupSlots where values[k] != previous[base + k] { mask |= 1 << UInt64(k) }
                guard mask != 0 else { continue }
                changed += 1
                Varint.append(UInt64(position - lastPosition - 1), to: &body)
                lastPosition = position
                Varint.append(mask, to: &body)
                for k in 0..<FlightSlots.groupSlots where mask & (1 << UInt64(k)) != 0 {
                    Varint.append(values[k] ^ previous[base + k], to: &body)
                    previous[base + k] = values[k]
                }
            }
            Varint.append(UInt64(changed), to: &out)
            out += body
        }

        static func changes(_ values: [UInt64], against previous: inout ArraySlice<UInt64>, into out: inout [UInt8]) {
            let b = previous.startIndex
            var mask: UInt64 = 0
            for k in values.indices where values[k] != previous[b + k] { mask |= 1 << UInt64(k) }
            Varint.append(mask, to: &out)
            for k in values.indices where mask & (1 << UInt64(k)) != 0 {
                Varint.append(values[k] ^ previous[b + k], to: &out)
                previous[b + k] = values[k]
            }
        }

        static func append(_ a: CgroupAttributes?, to out: inout [UInt8]) {
            guard let a else {
                Varint.append(0, to: &out)
                return
            }
            Varint.append(1, to: &out)
            Varint.append(UInt64(a.ownerUID), to: &out)
            let pairs = a.values.sorted { $0.key < $1.key }
            Varint.append(UInt64(pairs.count), to: &out)
            for (k, v) in pairs {
                Varint.appendBytes(Array(k.utf8), to: &out)
                Varint.appendBytes(Array(v.utf8), to: &out)
            }
        }
    }

    /// Reads a segment back, snapshot by snapshot; nil at its end (or at
    /// bytes it did not write, which it never is given).
    struct Decoder {
        var reader: ByteReader
        let root: String
        var ids: [UInt64] = []
        var paths: [CgroupPath] = []
        var attributes: [CgroupAttributes?] = []
        var previous: [UInt64] = []
        var list: [Int] = []
        var system = [UInt64](repeating: 0, count: FlightSlots.systemSlots)
        var time = Timestamp(monotonicNanos: 0, wallNanos: 0)

        init(bytes: [UInt8], root: String) {
            reader = ByteReader(bytes: bytes)
            self.root = root
        }

        mutating func next() -> Snapshot? {
            guard !reader.atEnd, let dm = reader.varint(), let dw = reader.varint() else { return nil }
            time = Timestamp(monotonicNanos: time.monotonicNanos &+ UInt64(bitPattern: Varint.unzigzag(dm)),
                             wallNanos: time.wallNanos &+ UInt64(bitPattern: Varint.unzigzag(dw)))
            guard Self.changes(&reader, into: &system) else { return nil }
            guard let added = reader.count(reader.bytes.count) else { return nil }
            for _ in 0..<added {
                guard let id = reader.varint(), let path = reader.data() else { return nil }
                ids.append(id)
                paths.append(CgroupPath(unchecked: path))
                attributes.append(nil)
                previous += repeatElement(0, count: FlightSlots.groupSlots)
            }
            guard let changedAttributes = reader.count(ids.count) else { return nil }
            for _ in 0..<changedAttributes {
                guard let i = reader.count(ids.count - 1), let a = Self.attributes(&reader) else { return nil }
                attributes[i] = a.value
            }
            guard let listChanged = reader.varint() else { return nil }
            if listChanged == 1 {
                guard let n = reader.count(reader.bytes.count) else { return nil }
                var l: [Int] = []
                l.reserveCapacity(n)
                for _ in 0..<n {
                    guard let i = reader.count(ids.count - 1) else { return nil }
                    l.append(i)
                }
                list = l
            }
            guard let changed = reader.count(list.count) else { return nil }
            var position = -1
            for _ in 0..<changed {
                guard let skip = reader.count(list.count), let mask = reader.varint() else { return nil }
                position += skip + 1
                guard position < list.count else { return nil }
                let base = list[position] * FlightSlots.groupSlots
                for k in 0..<FlightSlots.groupSlots where mask & (1 << UInt64(k)) != 0 {
                    guard let x = reader.varint() else { return nil }
                    previous[base + k] ^= x
                }
            }
            var groups: [CgroupSnapshot] = []
            groups.reserveCapacity(list.count)
            for i in list {
                let base = i * FlightSlots.groupSlots
                groups.append(FlightSlots.group(path: paths[i], id: ids[i], attributes: attributes[i],
                                                previous[base..<(base + FlightSlots.groupSlots)]))
            }
            return Snapshot(root: root, time: time, system: FlightSlots.system(system), cgroups: groups)
        }

        static func changes(_ reader: inout ByteReader, into values: inout [UInt64]) -> Bool {
            guard let mask = reader.varint() else { return false }
            for k in values.indices where mask & (1 << UInt64(k)) != 0 {
                guard let x = reader.varint() else { return false }
                values[k] ^= x
            }
            return true
        }

        static func attributes(_ reader: inout ByteReader) -> (value: CgroupAttributes?, Void)? {
            guard let present = reader.varint() else { return nil }
            if present == 0 { return (nil, ()) }
            guard let owner = reader.varint(), owner <= UInt64(UInt32.max), let n = reader.count(reader.bytes.count) else { return nil }
            var values: [String: String] = [:]
            for _ in 0..<n {
                guard let k = reader.data(), let v = reader.data() else { return nil }
                values[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
            }
            return (CgroupAttributes(ownerUID: UInt32(owner), values: values), ())
        }
    }
}
