/// Reply (8-byte header, then a body per kind):
///
///     0  version    u8   1
///     1  kind       u8   HelperReply.Kind
///     2  reserved   u16  0
///     4  request id u32  of the request answered (0 when it was unreadable)
///
/// Paths in replies are raw bytes of at most 4,095 (PATH_MAX - 1), texts at
/// most `HelperWire.maxTextSize`: every reply the helper can make fits
/// `maxReplySize` and decodes, whatever the length of the names involved.

/// Where cgwarden's own cgroup is, as the helper found it.
public enum OwnCgroup: Equatable, Sendable, CustomStringConvertible {
    /// Found: the group whose `cgroup.procs` lists the helper.
    case at(CgroupPath, id: UInt64)
    /// Not beneath the root: no group there holds cgwarden.
    case outside
    /// Could not be found (parts of the tree could not be read). Every kill
    /// then searches the target's subtree for cgwarden's processes, and is
    /// refused when it cannot read all of it.
    case unknown

    public var path: CgroupPath? {
        if case .at(let p, _) = self { return p }
        return nil
    }

    public var description: String {
        switch self {
        case .at(let p, let id): return "\(p) (id \(id))"
        case .outside: return "outside the cgroup root"
        case .unknown: return "unknown"
        }
    }
}

/// What a ping answers: who the helper is and how it was set up.
public struct HelperInfo: Equatable, Sendable {
    public var pid: Int32
    /// Its seccomp filter is installed (always, in a real helper).
    public var seccomp: Bool
    public var rootIsCgroup2: Bool
    /// CGWARDEN_HELPER_TEST_HOOKS=1 was set when it was spawned.
    public var testHooks: Bool
    /// cgwarden's cgroup in the root's coordinates, as the helper found it.
    public var own: OwnCgroup

    public var ownCgroup: CgroupPath? { own.path }

    public init(pid: Int32, seccomp: Bool, rootIsCgroup2: Bool, testHooks: Bool, own: OwnCgroup) {
        self.pid = pid
        self.seccomp = seccomp
        self.rootIsCgroup2 = rootIsCgroup2
        self.testHooks = testHooks
        self.own = own
    }
}

/// A step of a request that failed in the helper, with its errno.
public struct HelperStepFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Step: UInt8, Equatable, Sendable, CaseIterable, CustomStringConvertible {
        case open = 1
        case status
        case walkSubtree
        case openEvents
        case writeKill
        case readProcs
        case signal
        case readAttribute
        case armTrigger

        public var description: String {
            switch self {
            case .open: return "open"
            case .status: return "fstat"
            case .walkSubtree: return "walk the subtree of"
            case .openEvents: return "open cgroup.events"
            case .writeKill: return "write cgroup.kill"
            case .readProcs: return "read cgroup.procs"
            case .signal: return "kill"
            case .readAttribute: return "fgetxattr"
            case .armTrigger: return "arm a PSI trigger on memory.pressure of"
            }
        }
    }

    public var step: Step
    /// The group the step concerned, when it names one.
    public var path: CgroupPath?
    /// A word more (the attribute's name), at most `HelperWire.maxTextSize` bytes.
    public var detail: String
    public var errno: Int32

    public init(_ step: Step, path: CgroupPath? = nil, detail: String = "", errno: Int32) {
        self.step = step
        self.path = path
        self.detail = detail
        self.errno = errno
    }

    /// `walk the subtree of /a/b`, `fgetxattr user.oomd_avoid`.
    public var operation: String {
        var s = step.description
        if let path { s += " \(path)" }
        if !detail.isEmpty { s += " \(detail)" }
        return s
    }

    public var description: String { "\(operation): errno \(errno)" }
}

/// Everything the helper answers.
public enum HelperReply: Equatable, Sendable {
    case pong(HelperInfo)
    case killed(KillReport)
    case incomplete(KillReport)
    case refused(HelperRefusal)
    /// A system call failed in the helper.
    case failed(HelperStepFailure)
    case checked(CheckReport)
    case attributes(CgroupAttributes)
    case error(WireError)
    /// A PSI trigger is armed; its descriptor travels with this packet.
    case armed

    enum Kind: UInt8 {
        case pong = 1, killed, incomplete, refused, failed, checked, attributes, error, armed
    }

    var kind: Kind {
        switch self {
        case .pong: return .pong
        case .killed: return .killed
        case .incomplete: return .incomplete
        case .refused: return .refused
        case .failed: return .failed
        case .checked: return .checked
        case .attributes: return .attributes
        case .error: return .error
        case .armed: return .armed
        }
    }

    public func encoded(requestID: UInt32) -> [UInt8] {
        var w = WireWriter()
        w.u8(HelperWire.version)
        w.u8(kind.rawValue)
        w.u16(0)
        w.u32(requestID)
        switch self {
        case .pong(let i):
            w.u32(UInt32(bitPattern: i.pid))
            w.u8((i.seccomp ? 1 : 0) | (i.rootIsCgroup2 ? 2 : 0) | (i.testHooks ? 4 : 0))
            switch i.own {
            case .outside: w.u8(0); w.path(.root); w.u64(0)
            case .at(let p, let id): w.u8(1); w.path(p); w.u64(id)
            case .unknown: w.u8(2); w.path(.root); w.u64(0)
            }
        case .killed(let r), .incomplete(let r):
            w.u8(r.method.rawValue)
            w.u8(r.fallbackReason?.rawValue ?? 0)
            w.u16(r.rounds)
            w.u32(r.signalled)
            w.u32(r.remaining)
            w.u64(r.durationNanos)
            w.optionalU64(r.memoryBefore)
            w.optionalU64(r.memoryAfter)
            w.u32(r.released)
        case .refused(let why):
            why.encode(into: &w)
        case .failed(let f):
            w.u8(f.step.rawValue)
            w.u32(UInt32(bitPattern: f.errno))
            w.optionalPath(f.path)
            w.string(f.detail, limit: HelperWire.maxTextSize)
        case .checked(let c):
            w.u32(c.processes)
            w.u32(c.groups)
            w.optionalU64(c.memoryCurrent)
        case .attributes(let a):
            w.u32(a.ownerUID)
            let names = CgroupAttributes.names.filter { a.values[$0] != nil }
            w.u8(UInt8(names.count))
            for n in names {
                w.string(n, limit: 64)
                w.string(a.values[n]!, limit: HelperWire.maxTextSize)
            }
        case .error(let e):
            w.u8(e.kind.rawValue)
            w.string(e.message, limit: 1024)
        case .armed:
            break
        }
        return w.bytes
    }

    /// Decodes one reply packet; throws on anything but exactly one valid reply.
    public static func decode(_ b: [UInt8]) throws(WireError) -> (requestID: UInt32, reply: HelperReply) {
        if b.count > HelperWire.maxReplySize { throw WireError(.oversize, "reply of \(b.count) bytes") }
        var r = WireReader(b)
        let version = try r.u8()
        if version != HelperWire.version { throw WireError(.unsupportedVersion, "reply version \(version)") }
        let rawKind = try r.u8()
        guard let kind = Kind(rawValue: rawKind) else { throw WireError(.malformed, "reply kind \(rawKind)") }
        if try r.u16() != 0 { throw WireError(.malformed, "reserved reply bits set") }
        let id = try r.u32()
        let reply: HelperReply
        switch kind {
        case .pong:
            let pid = Int32(bitPattern: try r.u32())
            let flags = try r.u8()
            if flags & ~7 != 0 { throw WireError(.malformed, "pong flags \(flags)") }
            let state = try r.u8()
            let path = try r.path(what: "own cgroup")
            let ownID = try r.u64()
            let own: OwnCgroup
            switch state {
            case 0 where path.isRoot && ownID == 0: own = .outside
            case 1: own = .at(path, id: ownID)
            case 2 where path.isRoot && ownID == 0: own = .unknown
            default: throw WireError(.malformed, "own cgroup state \(state)")
            }
            reply = .pong(HelperInfo(pid: pid, seccomp: flags & 1 != 0, rootIsCgroup2: flags & 2 != 0,
                                     testHooks: flags & 4 != 0, own: own))
        case .killed, .incomplete:
            let m = try r.u8()
            guard let method = KillMethod(rawValue: m) else { throw WireError(.malformed, "kill method \(m)") }
            let fr = try r.u8()
            let reason = FallbackReason(rawValue: fr)
            if (fr == 0) != (method == .cgroupKill) || (fr != 0 && reason == nil) {
                throw WireError(.malformed, "fallback reason \(fr) with method \(method)")
            }
            let report = KillReport(method: method, fallbackReason: reason, rounds: try r.u16(), signalled: try r.u32(),
                                    remaining: try r.u32(), durationNanos: try r.u64(),
                                    memoryBefore: try r.optionalU64(), memoryAfter: try r.optionalU64(),
                                    released: try r.u32())
            reply = kind == .killed ? .killed(report) : .incomplete(report)
        case .refused:
            reply = .refused(try HelperRefusal.decode(from: &r))
        case .failed:
            let s = try r.u8()
            guard let step = HelperStepFailure.Step(rawValue: s) else { throw WireError(.malformed, "failed step \(s)") }
            let e = Int32(bitPattern: try r.u32())
            let path = try r.optionalPath(what: "failed path")
            let detail = try r.string(max: HelperWire.maxTextSize, what: "failed detail")
            reply = .failed(HelperStepFailure(step, path: path, detail: detail, errno: e))
        case .checked:
            reply = .checked(CheckReport(processes: try r.u32(), groups: try r.u32(), memoryCurrent: try r.optionalU64()))
        case .attributes:
            let uid = try r.u32()
            let n = Int(try r.u8())
            if n > CgroupAttributes.names.count { throw WireError(.malformed, "\(n) attributes") }
            var values: [String: String] = [:]
            for _ in 0..<n {
                let name = try r.string(max: 64, what: "attribute name")
                guard CgroupAttributes.names.contains(name), values[name] == nil else {
                    throw WireError(.malformed, "attribute \(name)")
                }
                values[name] = try r.string(max: HelperWire.maxTextSize, what: "attribute value")
            }
            reply = .attributes(CgroupAttributes(ownerUID: uid, values: values))
        case .error:
            let k = try r.u8()
            guard let ek = WireError.Kind(rawValue: k) else { throw WireError(.malformed, "error kind \(k)") }
            reply = .error(WireError(ek, try r.string(max: 1024, what: "message"), requestID: id))
        case .armed:
            reply = .armed
        }
        try r.end()
        return (id, reply)
    }
}

extension HelperRefusal {
    /// The body of a refusal: its code, then the fields of that code only.
    func encode(into w: inout WireWriter) {
        w.u8(code.rawValue)
        switch self {
        case .invalidPath(let p): w.u8(p.rawValue)
        case .ownCgroup(let p), .ancestorOfOwn(let p): w.path(p)
        case .protected(let p, let pattern):
            w.path(p)
            w.string(pattern, limit: HelperWire.maxTextSize)
        case .staleID(let e, let f): w.u64(e); w.u64(f)
        case .unseenSubtree(let p, let e):
            w.path(p)
            w.u32(UInt32(bitPattern: e))
        case .root, .symlink, .crossesMount, .notFound, .notADirectory, .notCgroup2, .ownCgroupUnknown:
            break
        }
    }

    static func decode(from r: inout WireReader) throws(WireError) -> HelperRefusal {
        let raw = try r.u8()
        guard let code = Code(rawValue: raw) else { throw WireError(.malformed, "refusal \(raw)") }
        switch code {
        case .invalidPath:
            let p = try r.u8()
            guard let problem = PathProblem(rawValue: p) else { throw WireError(.malformed, "path problem \(p)") }
            return .invalidPath(problem)
        case .root: return .root
        case .ownCgroup: return .ownCgroup(try r.path(what: "own cgroup"))
        case .ancestorOfOwn: return .ancestorOfOwn(own: try r.path(what: "own cgroup"))
        case .protected:
            let p = try r.path(what: "protected group")
            let pattern = try r.string(max: HelperWire.maxTextSize, what: "pattern")
            if pattern.isEmpty { throw WireError(.malformed, "protected without a pattern") }
            return .protected(p, pattern: pattern)
        case .symlink: return .symlink
        case .crossesMount: return .crossesMount
        case .notFound: return .notFound
        case .notADirectory: return .notADirectory
        case .staleID:
            let e = try r.u64(), f = try r.u64()
            if e == f { throw WireError(.malformed, "stale id \(e) equal to itself") }
            return .staleID(expected: e, found: f)
        case .notCgroup2: return .notCgroup2
        case .unseenSubtree:
            let p = try r.path(what: "unseen group")
            return .unseenSubtree(p, errno: Int32(bitPattern: try r.u32()))
        case .ownCgroupUnknown: return .ownCgroupUnknown
        }
    }
}
