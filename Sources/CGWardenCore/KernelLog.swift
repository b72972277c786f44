/// The kernel's log as /dev/kmsg gives it (Documentation/ABI/testing/dev-kmsg),
/// and the two lines its OOM killer writes there for each kill. Bytes in,
/// values out; the reader (CGWardenSystem) and the tests share it.

/// One record: what one `read` of /dev/kmsg returns.
///
///     6,1234,5140900,-;oom-kill:constraint=CONSTRAINT_MEMCG,...
///      SUBSYSTEM=memory
///
/// The message is `\xNN`-escaped by the kernel (control bytes, bytes above
/// 0x7e and `\` itself); `message` holds it unescaped. The lines after the
/// first, each starting with a space, are the record's dictionary.
public struct KernelLogRecord: Equatable, Sendable {
    /// `-`: a whole message; `c`: the first fragment of one continued by
    /// later records (kernels before 5.10 could split a line); `+`: such a
    /// continuation.
    public enum Fragment: Equatable, Sendable { case whole, first, continued }

    public struct Property: Equatable, Sendable {
        public var key: String
        public var value: [UInt8]
        public init(key: String, value: [UInt8]) {
            self.key = key
            self.value = value
        }
    }

    /// `facility << 3 | level`: facility 0 is the kernel itself, 1 (user)
    /// what a process wrote to /dev/kmsg.
    public var priority: UInt64
    public var sequence: UInt64
    /// Microseconds since boot on the kernel's clock (close to CLOCK_MONOTONIC).
    public var timestampMicros: UInt64
    public var fragment: Fragment
    public var message: [UInt8]
    public var properties: [Property]

    public init(priority: UInt64, sequence: UInt64, timestampMicros: UInt64, fragment: Fragment = .whole,
                message: [UInt8], properties: [Property] = []) {
        self.priority = priority
        self.sequence = sequence
        self.timestampMicros = timestampMicros
        self.fragment = fragment
        self.message = message
        self.properties = properties
    }

    public var level: UInt64 { priority & 7 }
    public var facility: UInt64 { priority >> 3 }
    /// Written by the kernel, not by a process through /dev/kmsg (which root may do).
    public var fromKernel: Bool { facility == 0 }
}

/// The first of the OOM killer's two lines (kernel 4.19+, `dump_oom_victim`):
///
///     oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
///       oom_memcg=/t/a,task_memcg=/t/a,task=alloc,pid=4242,uid=0
///
/// (one line; `global_oom` in place of `oom_memcg=...` for the node's OOM).
public struct KernelOOMSummary: Equatable, Sendable {
    public var constraint: String
    /// The group whose limit was hit; nil for the node's OOM (`global_oom`).
    public var oomGroup: CgroupPath?
    /// The victim's group.
    public var taskGroup: CgroupPath
    public var command: String
    public var pid: Int32
    public var uid: UInt32

    public init(constraint: String, oomGroup: CgroupPath?, taskGroup: CgroupPath, command: String, pid: Int32, uid: UInt32) {
        self.constraint = constraint
        self.oomGroup = oomGroup
        self.taskGroup = taskGroup
        self.command = command
        self.pid = pid
        self.uid = uid
    }
}

/// The second line (`__oom_kill_process`):
///
///     Memory cgroup out of memory: Killed process 4242 (alloc) total-vm:70084kB,
///       anon-rss:65536kB, file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:172kB oom_score_adj:0
///
/// (`Out of memory: Killed process ...` for the node's OOM). Sizes in bytes.
public struct KernelOOMKill: Equatable, Sendable {
    /// What precedes `: Killed process`: `Memory cgroup out of memory`, `Out of memory`.
    public var context: String
    public var pid: Int32
    public var command: String
    public var totalVM: UInt64
    public var anonRSS: UInt64
    public var fileRSS: UInt64
    /// nil on kernels that did not print it (before 4.9).
    public var shmemRSS: UInt64?
    public var uid: UInt32?
    public var pageTables: UInt64?
    public var oomScoreAdj: Int64?

    public init(context: String, pid: Int32, command: String, totalVM: UInt64, anonRSS: UInt64, fileRSS: UInt64,
                shmemRSS: UInt64?, uid: UInt32? = nil, pageTables: UInt64? = nil, oomScoreAdj: Int64? = nil) {
        self.context = context
        self.pid = pid
        self.command = command
        self.totalVM = totalVM
        self.anonRSS = anonRSS
        self.fileRSS = fileRSS
        self.shmemRSS = shmemRSS
        self.uid = uid
        self.pageTables = pageTables
        self.oomScoreAdj = oomScoreAdj
    }

    /// A memory cgroup's limit, not the node, made the kernel kill.
    public var groupLimit: Bool { context.hasPrefix("Memory cgroup") }
}

/// One kill the kernel reported: the two lines joined by pid.
public struct KernelOOMReport: Equatable, Sendable {
    public var sequence: UInt64
    public var timestampMicros: UInt64
    public var task: GuardEvent.KilledTask

    public init(sequence: UInt64, timestampMicros: UInt64, task: GuardEvent.KilledTask) {
        self.sequence = sequence
        self.timestampMicros = timestampMicros
        self.task = task
    }
}

extension Parse {
    static let kmsgFile = "/dev/kmsg"

    /// One /dev/kmsg record: `PRIO,SEQ,TIMESTAMP_US,FLAGS[,MORE...];MESSAGE`,
    /// then ` KEY=VALUE` lines. Fields after FLAGS (a newer kernel's caller
    /// id) are skipped.
    public static func kernelLogRecord(_ b: Bytes) throws(ParseError) -> KernelLogRecord {
        let file = kmsgFile
        guard !b.isEmpty else { throw ParseError(file: file, reason: .empty) }
        guard let semicolon = b.firstIndex(of: UInt8(ascii: ";")) else {
            throw ParseError(file: file, line: 1, reason: .malformedLine(text(slice(b, 0, min(b.count, 80)))))
        }
        let header = slice(b, 0, semicolon)
        var fields: [Bytes] = []
        var start = 0
        for i in 0...header.count where i == header.count || header[i] == UInt8(ascii: ",") {
            fields.append(slice(header, start, i))
            start = i + 1
            if fields.count == 4 { break }
        }
        guard fields.count == 4 else { throw ParseError(file: file, line: 1, reason: .malformedLine(text(header))) }
        let priority = try parseUInt64(fields[0], file: file, line: 1, field: "priority")
        let sequence = try parseUInt64(fields[1], file: file, line: 1, field: "sequence")
        let timestamp = try parseUInt64(fields[2], file: file, line: 1, field: "timestamp")
        let flags = fields[3]
        let fragment: KernelLogRecord.Fragment
        if flags.contains(UInt8(ascii: "c")) {
            fragment = .first
        } else if flags.contains(UInt8(ascii: "+")) {
            fragment = .continued
        } else if flags.isEmpty {
            throw ParseError(file: file, line: 1, field: "flags", reason: .malformedLine(text(header)))
        } else {
            fragment = .whole
        }
        var lines: [Bytes] = []
        start = semicolon + 1
        for i in (semicolon + 1)...b.count where i == b.count || b[i] == ASCII.newline {
            if i > start || lines.isEmpty { lines.append(slice(b, start, i)) }
            start = i + 1
        }
        var record = KernelLogRecord(priority: priority, sequence: sequence, timestampMicros: timestamp,
                                     fragment: fragment, message: unescapeKernel(lines[0]))
        for (n, line) in lines.enumerated().dropFirst() {
            guard line.first == ASCII.space, let eq = line.firstIndex(of: ASCII.equals), eq > 1 else {
                throw ParseError(file: file, line: n + 1, reason: .malformedLine(text(line)))
            }
            record.properties.append(.init(key: text(slice(line, 1, eq)), value: unescapeKernel(slice(line, eq + 1, line.count))))
        }
        return record
    }

    /// `\xNN` back to its byte; anything else as it is (the kernel escapes
    /// every `\`, so a lone one only comes from a forged record).
    static func unescapeKernel(_ b: Bytes) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, b[i + 1] == UInt8(ascii: "x"),
               let hi = PathText.hexValue(b[i + 2]), let lo = PathText.hexValue(b[i + 3]) {
                out.append(hi << 4 | lo)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }

    // MARK: the OOM killer's lines

    /// Names hold any byte but `/` and NUL, and the kernel does not escape
    /// commas: a line has more than one way to split where a name holds
    /// `,task_memcg=` or the like. At most this many occurrences of each
    /// marker are tried, so that a forged 8 KiB line costs little.
    static let markerCandidates = 8
    /// TASK_COMM_LEN - 1.
    static let maximumCommandBytes = 15

    /// The summary line, or nil when `message` is not one. `command`, when
    /// the kill line already named the task, settles a command that holds
    /// `,task=`.
    ///
    /// How it splits: `uid=` and `pid=` are numbers at the end; the group
    /// whose limit was hit (`oom_memcg`) holds the victim's (`task_memcg`),
    /// so of the ways to split, the first where the victim's path lies
    /// within the other is taken; the command is at most 15 bytes.
    public static func kernelOOMSummary(_ message: [UInt8], command known: String? = nil) throws(ParseError) -> KernelOOMSummary? {
        let m = message[...]
        let prefix = Array("oom-kill:constraint=".utf8)
        guard m.starts(with: prefix) else { return nil }
        let file = kmsgFile
        func fail() -> ParseError { ParseError(file: file, line: 1, reason: .malformedLine(PathText.escape(m.prefix(120)))) }
        let body = m.dropFirst(prefix.count)
        guard let comma = body.firstIndex(of: UInt8(ascii: ",")) else { throw fail() }
        let constraint = String(decoding: body[..<comma], as: UTF8.self)
        guard let uidAt = lastRange(of: ",uid=", in: body), let pidAt = lastRange(of: ",pid=", in: body[..<uidAt.lowerBound]) else {
            throw fail()
        }
        let uidText = body[uidAt.upperBound...], pidText = body[pidAt.upperBound..<uidAt.lowerBound]
        guard let uid = decimal(uidText), uid <= UInt64(UInt32.max),
              let pid = decimal(pidText), pid <= UInt64(Int32.max) else { throw fail() }
        let middle = body[comma..<pidAt.lowerBound]
        let global = ranges(of: ",global_oom,task_memcg=", in: middle)
        let limited = ranges(of: ",oom_memcg=", in: middle)
        var fallback: KernelOOMSummary?
        for j in global.map({ (start: $0.lowerBound, value: $0.upperBound, global: true) })
            + limited.map({ (start: $0.lowerBound, value: $0.upperBound, global: false) }) {
            let taskMarkers = j.global ? [j.value..<j.value] : ranges(of: ",task_memcg=", in: middle[j.value...])
            for k in taskMarkers {
                let oomGroup = j.global ? nil : kernelPath(middle[j.value..<k.lowerBound])
                if !j.global && oomGroup == nil { continue }
                let rest = middle[(j.global ? k.lowerBound : k.upperBound)...]
                // The command is at most 15 bytes: its marker is among the last 21.
                for t in ranges(of: ",task=", in: rest.suffix(maximumCommandBytes + 6)).reversed() {
                    let commandBytes = rest[t.upperBound...]
                    guard commandBytes.count <= maximumCommandBytes, let taskGroup = kernelPath(rest[..<t.lowerBound]) else { continue }
                    if let oomGroup, !taskGroup.isWithin(oomGroup) { continue }
                    let command = String(decoding: commandBytes, as: UTF8.self)
                    let summary = KernelOOMSummary(constraint: constraint, oomGroup: oomGroup, taskGroup: taskGroup,
                                                   command: command, pid: Int32(pid), uid: UInt32(uid))
                    if known == nil || known == command { return summary }
                    if fallback == nil { fallback = summary }
                }
            }
        }
        if let fallback { return fallback }
        throw fail()
    }

    /// The kill line, or nil when `message` is not one. The command is
    /// what lies between `(` and the last `) total-vm:`: what follows it has
    /// a fixed form without parentheses.
    public static func kernelOOMKill(_ message: [UInt8]) throws(ParseError) -> KernelOOMKill? {
        let m = message[...]
        let marker = Array("Killed process ".utf8)
        let context: String
        let afterMarker: ArraySlice<UInt8>.Index
        if m.starts(with: marker) {
            context = ""
            afterMarker = m.startIndex + marker.count
        } else if let at = firstRange(of: ": Killed process ", in: m) {
            context = String(decoding: m[..<at.lowerBound], as: UTF8.self)
            afterMarker = at.upperBound
        } else {
            return nil
        }
        let file = kmsgFile
        func fail() -> ParseError { ParseError(file: file, line: 1, reason: .malformedLine(PathText.escape(m.prefix(120)))) }
        let rest = m[afterMarker...]
        guard let open = firstRange(of: " (", in: rest), let pid = decimal(rest[..<open.lowerBound]), pid <= UInt64(Int32.max),
              let close = lastRange(of: ") total-vm:", in: rest[open.upperBound...]) else { throw fail() }
        let command = String(decoding: rest[open.upperBound..<close.lowerBound], as: UTF8.self)
        var values: [String: ArraySlice<UInt8>] = [:]
        let tail = rest[(close.lowerBound + 2)...]
        for token in tail.split(whereSeparator: { $0 == ASCII.space || $0 == UInt8(ascii: ",") }) {
            guard let colon = token.firstIndex(of: ASCII.colon) else { continue }
            values[String(decoding: token[..<colon], as: UTF8.self)] = token[(colon + 1)...]
        }
        func kilobytes(_ key: String) throws(ParseError) -> UInt64? {
            guard let v = values[key] else { return nil }
            guard v.count > 2, v.suffix(2).elementsEqual("kB".utf8), let n = decimal(v.dropLast(2)) else { throw fail() }
            let (bytes, overflow) = n.multipliedReportingOverflow(by: 1024)
            if overflow { throw ParseError(file: file, line: 1, field: key, reason: .overflow(String(decoding: v, as: UTF8.self))) }
            return bytes
        }
        guard let totalVM = try kilobytes("total-vm"), let anon = try kilobytes("anon-rss"), let fileRSS = try kilobytes("file-rss") else {
            throw fail()
        }
        var kill = KernelOOMKill(context: context, pid: Int32(pid), command: command, totalVM: totalVM, anonRSS: anon,
                                 fileRSS: fileRSS, shmemRSS: try kilobytes("shmem-rss"))
        if let u = values["UID"] {
            guard let uid = decimal(u), uid <= UInt64(UInt32.max) else { throw fail() }
            kill.uid = UInt32(uid)
        }
        kill.pageTables = try kilobytes("pgtables")
        if let a = values["oom_score_adj"] {
            let negative = a.first == ASCII.minus
            guard let magnitude = decimal(negative ? a.dropFirst() : a), magnitude <= 1000 else { throw fail() }
            kill.oomScoreAdj = negative ? -Int64(magnitude) : Int64(magnitude)
        }
        return kill
    }

    /// A path as the kernel prints it (`/a/b`, `/` for the root), or nil.
    static func kernelPath(_ b: ArraySlice<UInt8>) -> CgroupPath? {
        guard b.first == CgroupPath.slash else { return nil }
        if case .success(let p) = HelperPath.parse(Array(b.dropFirst())) { return p }
        return nil
    }

    /// Digits only, within 64 bits.
    static func decimal(_ b: ArraySlice<UInt8>) -> UInt64? {
        guard !b.isEmpty, b.count <= 20 else { return nil }
        var v: UInt64 = 0
        for c in b {
            guard ASCII.isDigit(c) else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - ASCII.zero))
            if o1 || o2 { return nil }
            v = s
        }
        return v
    }

    static func firstRange(of needle: StaticString, in hay: ArraySlice<UInt8>) -> Range<Int>? {
        ranges(of: needle, in: hay, limit: 1).first
    }

    static func lastRange(of needle: StaticString, in hay: ArraySlice<UInt8>) -> Range<Int>? {
        let n = needle.utf8CodeUnitCount
        guard hay.count >= n else { return nil }
        let p = needle.utf8Start
        var i = hay.endIndex - n
        while i >= hay.startIndex {
            var match = true
            for k in 0..<n where hay[i + k] != p[k] {
                match = false
                break
            }
            if match { return i..<(i + n) }
            i -= 1
        }
        return nil
    }

    /// The first `limit` occurrences, left to right, not overlapping.
    static func ranges(of needle: StaticString, in hay: ArraySlice<UInt8>, limit: Int = markerCandidates) -> [Range<Int>] {
        let n = needle.utf8CodeUnitCount
        let p = needle.utf8Start
        var out: [Range<Int>] = []
        guard hay.count >= n else { return out }
        var i = hay.startIndex
        while i + n <= hay.endIndex && out.count < limit {
            var match = true
            for k in 0..<n where hay[i + k] != p[k] {
                match = false
                break
            }
            if match {
                out.append(i..<(i + n))
                i += n
            } else {
                i += 1
            }
        }
        return out
    }
}

/// Turns /dev/kmsg records into the kills they report: fragments of a
/// continued line joined (kernels before 5.10), a summary held until the
/// kill line with its pid, lost records counted from sequence gaps.
/// Bounded: one continued line (at most `maximumLine` bytes) and one summary.
/// Times are the reader's (CLOCK_MONOTONIC when the record was read): the
/// kernel's log clock drifts from it over a long uptime.
public struct KernelOOMAssembler: Sendable {
    /// CONSOLE_EXT_LOG_MAX: no kernel record is longer.
    public static let maximumLine = 8192
    /// A summary waits this long for its kill line: the two are written one
    /// after the other by the same task, but a reader may come in between.
    public static let summaryWaitNanos: UInt64 = 2_000_000_000

    private var partial: (sequence: UInt64, time: UInt64, bytes: [UInt8])?
    private var summary: (sequence: UInt64, time: UInt64, message: [UInt8], pid: Int32, read: UInt64)?
    /// The group whose limit the last summary named, for further kill lines
    /// of the same OOM (memory.oom.group kills every task of the group).
    private var lastOOMGroup: (group: CgroupPath?, sequence: UInt64)?
    private var lastSequence: UInt64?
    /// Records the kernel overwrote before they were read (sequence gaps).
    public private(set) var lost: UInt64 = 0
    /// Lines that looked like the OOM killer's but did not parse (the first few).
    private var malformed: [ParseError] = []

    public init() {}

    /// The kills `record` completes (none, one, or two when it flushes a
    /// summary left alone); `readNanos`: when it was read.
    public mutating func add(_ record: KernelLogRecord, readNanos: UInt64 = 0) -> [KernelOOMReport] {
        if let last = lastSequence, record.sequence > last.addingSaturated(1) {
            lost = lost.addingSaturated(record.sequence - last - 1)
        }
        lastSequence = record.sequence
        // What a process wrote to /dev/kmsg is not the kernel's report.
        guard record.fromKernel else { return [] }
        var out: [KernelOOMReport] = []
        switch record.fragment {
        case .first:
            if let p = partial { out += line(p.bytes, sequence: p.sequence, time: p.time, read: readNanos) }
            partial = (record.sequence, record.timestampMicros, Array(record.message.prefix(Self.maximumLine)))
            return out
        case .continued:
            if partial != nil {
                partial!.bytes += record.message.prefix(Self.maximumLine - partial!.bytes.count)
                return out
            }
        case .whole:
            if let p = partial {
                partial = nil
                out += line(p.bytes, sequence: p.sequence, time: p.time, read: readNanos)
            }
        }
        return out + line(record.message, sequence: record.sequence, time: record.timestampMicros, read: readNanos)
    }

    /// A summary that waited `summaryWaitNanos` for its kill line, as a
    /// report of its own (`nowNanos` on the reader's clock).
    public mutating func expire(nowNanos: UInt64) -> [KernelOOMReport] {
        guard let s = summary, nowNanos >= s.read.addingSaturated(Self.summaryWaitNanos) else { return [] }
        summary = nil
        return report(summary: s, kill: nil)
    }

    /// When `expire` next has something to give (reader's clock), if ever.
    public var nextExpiryNanos: UInt64? { summary.map { $0.read.addingSaturated(Self.summaryWaitNanos) } }

    mutating func line(_ message: [UInt8], sequence: UInt64, time: UInt64, read: UInt64) -> [KernelOOMReport] {
        var out: [KernelOOMReport] = []
        if message.starts(with: "oom-kill:".utf8) {
            if let s = summary { out += report(summary: s, kill: nil) }
            // The pid, to wait for its kill line; parsed again with its command when that comes.
            do {
                if let parsed = try Parse.kernelOOMSummary(message) {
                    summary = (sequence, time, message, parsed.pid, read)
                    lastOOMGroup = (parsed.oomGroup, sequence)
                } else {
                    summary = nil
                }
            } catch {
                summary = nil
                noteMalformed(error)
            }
            return out
        }
        let kill: KernelOOMKill?
        do { kill = try Parse.kernelOOMKill(message) } catch {
            noteMalformed(error)
            return out
        }
        guard let kill else { return out }
        if let s = summary, s.pid == kill.pid {
            summary = nil
            return out + report(summary: s, kill: kill, sequence: sequence, time: time)
        }
        if let s = summary {
            summary = nil
            out += report(summary: s, kill: nil)
        }
        // A kill line alone: another task of a memory.oom.group, or a kernel
        // without the summary line (before 4.19).
        var task = GuardEvent.KilledTask(command: kill.command, pid: kill.pid, uid: kill.uid,
                                         constraint: kill.groupLimit ? "CONSTRAINT_MEMCG" : nil,
                                         anonRSS: kill.anonRSS, fileRSS: kill.fileRSS, shmemRSS: kill.shmemRSS)
        if let g = lastOOMGroup, sequence.subtractingSaturated(g.sequence) <= 64 { task.oomGroup = g.group }
        return out + [KernelOOMReport(sequence: sequence, timestampMicros: time, task: task)]
    }

    private func report(summary s: (sequence: UInt64, time: UInt64, message: [UInt8], pid: Int32, read: UInt64),
                        kill: KernelOOMKill?, sequence: UInt64? = nil, time: UInt64? = nil) -> [KernelOOMReport] {
        guard let parsed = try? Parse.kernelOOMSummary(s.message, command: kill?.command) else { return [] }
        let task = GuardEvent.KilledTask(command: kill?.command ?? parsed.command, pid: parsed.pid, uid: parsed.uid,
                                         constraint: parsed.constraint, oomGroup: parsed.oomGroup, taskGroup: parsed.taskGroup,
                                         anonRSS: kill?.anonRSS, fileRSS: kill?.fileRSS, shmemRSS: kill?.shmemRSS)
        return [KernelOOMReport(sequence: sequence ?? s.sequence, timestampMicros: time ?? s.time, task: task)]
    }

    private mutating func noteMalformed(_ e: ParseError) {
        // The first few, for a problem report (bounded).
        if malformed.count < 8 { malformed.append(e) }
    }

    /// Takes the malformed lines noted so far.
    public mutating func takeMalformed() -> [ParseError] {
        defer { malformed = [] }
        return malformed
    }
}
