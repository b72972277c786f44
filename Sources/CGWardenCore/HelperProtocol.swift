/// The messages between cgwarden and its kill helper, one per
/// `SOCK_SEQPACKET` packet (the kernel keeps message boundaries, so a
/// message is exactly one packet and nothing is framed). Little-endian,
/// fixed layouts, version 1; a decoder accepts exactly one layout and
/// rejects everything else (short, long, unknown version or action, bad
/// flags, a path that is not UTF-8, ...). Pure: bytes in, values out.
///
/// Request (22 bytes + path):
///
///     0  version    u8   1
///     1  action     u8   HelperAction
///     2  flags      u16  bit 0: force the fallback (kill only); others 0
///     4  request id u32  echoed in the reply
///     8  cgroup id  u64  inode of the group's directory; 0 for ping
///    16  timeout    u32  ms to wait for `populated 0` (kill only, else 0)
///    20  path len   u16  then the path (HelperPath syntax), UTF-8, no NUL
///
/// Reply (8-byte header, then a body per kind):
///
///     0  version    u8   1
///     1  kind       u8   ReplyKind
///     2  reserved   u16  0
///     4  request id u32  of the request answered (0 when it was unreadable)
public enum HelperWire {
    public static let version: UInt8 = 1
    public static let requestHeaderSize = 22
    /// The largest request: the header and a path of PATH_MAX - 1 bytes.
    public static let maxRequestSize = requestHeaderSize + HelperPath.maxLength
    /// Larger than any reply (two paths of 4095 bytes in a refusal at most).
    public static let maxReplySize = 16 * 1024
    /// The longest wait for `populated 0` a request may ask for.
    public static let maxTimeoutMillis: UInt32 = 600_000

    static let forceFallbackFlag: UInt16 = 1
}

public enum HelperAction: UInt8, Equatable, Sendable, CaseIterable, CustomStringConvertible {
    /// Liveness and configuration: the reply is `pong(HelperInfo)`.
    case ping = 1
    case kill = 2
    /// Dry run: the same resolution and checks as `kill`, no write.
    case check = 3
    /// Owner and preference xattrs of a group (read-only: no refusal for
    /// protected or own groups).
    case attributes = 4
    /// Tests only: the helper makes a system call outside its allow-list.
    /// Honoured only by a helper spawned with CGWARDEN_HELPER_TEST_HOOKS=1
    /// (Docs/security.md); any other helper answers `disabled`.
    case testForbiddenSyscall = 0x7f

    public var description: String {
        switch self {
        case .ping: return "ping"
        case .kill: return "kill"
        case .check: return "check"
        case .attributes: return "attributes"
        case .testForbiddenSyscall: return "test-forbidden-syscall"
        }
    }

    /// Whether the request names a cgroup (path and id).
    public var namesCgroup: Bool { self == .kill || self == .check || self == .attributes }
}

public struct HelperRequest: Equatable, Sendable {
    public var requestID: UInt32
    public var action: HelperAction
    /// HelperPath syntax; the decoder checks its shape as bytes only, the
    /// helper refuses what names nothing beneath its root.
    public var path: String
    public var cgroupID: UInt64
    public var timeoutMillis: UInt32
    public var forceFallback: Bool

    public init(requestID: UInt32, action: HelperAction, path: String = "", cgroupID: UInt64 = 0,
                timeoutMillis: UInt32 = 0, forceFallback: Bool = false) {
        self.requestID = requestID
        self.action = action
        self.path = path
        self.cgroupID = cgroupID
        self.timeoutMillis = timeoutMillis
        self.forceFallback = forceFallback
    }

    public static func kill(_ t: CgroupTarget, id: UInt32, timeoutMillis: UInt32, forceFallback: Bool = false) -> HelperRequest {
        HelperRequest(requestID: id, action: .kill, path: HelperPath.text(t.path), cgroupID: t.id,
                      timeoutMillis: timeoutMillis, forceFallback: forceFallback)
    }

    public static func check(_ t: CgroupTarget, id: UInt32) -> HelperRequest {
        HelperRequest(requestID: id, action: .check, path: HelperPath.text(t.path), cgroupID: t.id)
    }

    public static func attributes(_ t: CgroupTarget, id: UInt32) -> HelperRequest {
        HelperRequest(requestID: id, action: .attributes, path: HelperPath.text(t.path), cgroupID: t.id)
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.u8(HelperWire.version)
        w.u8(action.rawValue)
        w.u16(forceFallback ? HelperWire.forceFallbackFlag : 0)
        w.u32(requestID)
        w.u64(cgroupID)
        w.u32(timeoutMillis)
        w.string(path)
        return w.bytes
    }

    /// Decodes and validates one request packet.
    public static func decode(_ b: [UInt8]) throws(WireError) -> HelperRequest {
        if b.count > HelperWire.maxRequestSize { throw WireError(.oversize, "request of \(b.count) bytes (at most \(HelperWire.maxRequestSize))") }
        var r = WireReader(b)
        let version = try r.u8()
        if version != HelperWire.version { throw WireError(.unsupportedVersion, "version \(version) (this helper speaks \(HelperWire.version))") }
        let rawAction = try r.u8()
        let flags = try r.u16()
        let id = try r.u32()
        guard let action = HelperAction(rawValue: rawAction) else {
            throw WireError(.unknownAction, "action \(rawAction)", requestID: id)
        }
        let cgroupID = try r.u64()
        let timeout = try r.u32()
        let path = try r.string(max: HelperPath.maxLength, what: "path")
        try r.end()
        func bad(_ why: String) -> WireError { WireError(.malformed, "\(action): \(why)", requestID: id) }
        if flags & ~HelperWire.forceFallbackFlag != 0 { throw bad("unknown flags \(flags)") }
        if flags != 0 && action != .kill { throw bad("flags on a request that is not kill") }
        if path.utf8.contains(0) { throw bad("NUL in the path") }
        if action.namesCgroup {
            if cgroupID == 0 { throw bad("no cgroup id") }
        } else if cgroupID != 0 || !path.isEmpty {
            throw bad("a cgroup on a request that names none")
        }
        if action == .kill {
            if timeout == 0 || timeout > HelperWire.maxTimeoutMillis { throw bad("timeout \(timeout) ms outside 1...\(HelperWire.maxTimeoutMillis)") }
        } else if timeout != 0 {
            throw bad("a timeout on a request that is not kill")
        }
        return HelperRequest(requestID: id, action: action, path: path, cgroupID: cgroupID,
                             timeoutMillis: timeout, forceFallback: flags != 0)
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
    public var ownCgroup: CgroupPath?

    public init(pid: Int32, seccomp: Bool, rootIsCgroup2: Bool, testHooks: Bool, ownCgroup: CgroupPath?) {
        self.pid = pid
        self.seccomp = seccomp
        self.rootIsCgroup2 = rootIsCgroup2
        self.testHooks = testHooks
        self.ownCgroup = ownCgroup
    }
}

/// A request the helper could not read, or would not serve.
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Equatable, Sendable {
        case malformed = 1
        case unsupportedVersion = 2
        case unknownAction = 3
        case oversize = 4
        case truncated = 5
        /// A test-only action sent to a helper without test hooks.
        case disabled = 6
    }
    public var kind: Kind
    public var message: String
    /// The request's id when it could be read that far, else 0.
    public var requestID: UInt32

    public init(_ kind: Kind, _ message: String, requestID: UInt32 = 0) {
        self.kind = kind
        self.message = message
        self.requestID = requestID
    }

    public var description: String {
        let k: String
        switch kind {
        case .malformed: k = "malformed request"
        case .unsupportedVersion: k = "unsupported version"
        case .unknownAction: k = "unknown action"
        case .oversize: k = "oversize request"
        case .truncated: k = "truncated message"
        case .disabled: k = "disabled"
        }
        return "\(k): \(message)"
    }
}

/// Everything the helper answers.
public enum HelperReply: Equatable, Sendable {
    case pong(HelperInfo)
    case killed(KillReport)
    case incomplete(KillReport)
    case refused(HelperRefusal)
    /// A system call failed (errno), in `operation`.
    case failed(operation: String, errno: Int32)
    case checked(CheckReport)
    case attributes(CgroupAttributes)
    case error(WireError)

    enum Kind: UInt8 {
        case pong = 1, killed, incomplete, refused, failed, checked, attributes, error
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
            w.optionalString(i.ownCgroup.map(HelperPath.text))
        case .killed(let r), .incomplete(let r):
            w.u8(r.method.rawValue)
            w.u8(r.fallbackReason?.rawValue ?? 0)
            w.u16(r.rounds)
            w.u32(r.signalled)
            w.u32(r.remaining)
            w.u64(r.durationNanos)
            w.optionalU64(r.memoryBefore)
            w.optionalU64(r.memoryAfter)
        case .refused(let why):
            let (code, a, b, s1, s2) = HelperReply.fields(of: why)
            w.u8(code)
            w.u64(a)
            w.u64(b)
            w.string(s1)
            w.string(s2)
        case .failed(let op, let e):
            w.u32(UInt32(bitPattern: e))
            w.string(op)
        case .checked(let c):
            w.u32(c.processes)
            w.u32(c.groups)
            w.optionalU64(c.memoryCurrent)
        case .attributes(let a):
            w.u32(a.ownerUID)
            let names = CgroupAttributes.names.filter { a.values[$0] != nil }
            w.u8(UInt8(names.count))
            for n in names {
                w.string(n)
                w.string(a.values[n]!)
            }
        case .error(let e):
            w.u8(e.kind.rawValue)
            w.string(e.message)
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
            let own = try r.optionalString(max: HelperPath.maxLength, what: "own cgroup").map { (t: String) throws(WireError) -> CgroupPath in
                guard case .success(let p) = HelperPath.parse(t) else { throw WireError(.malformed, "own cgroup \(t)") }
                return p
            }
            reply = .pong(HelperInfo(pid: pid, seccomp: flags & 1 != 0, rootIsCgroup2: flags & 2 != 0,
                                     testHooks: flags & 4 != 0, ownCgroup: own))
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
                                    memoryBefore: try r.optionalU64(), memoryAfter: try r.optionalU64())
            reply = kind == .killed ? .killed(report) : .incomplete(report)
        case .refused:
            let code = try r.u8()
            let a = try r.u64(), b = try r.u64()
            let s1 = try r.string(max: HelperPath.maxLength, what: "refusal"), s2 = try r.string(max: HelperPath.maxLength, what: "refusal")
            guard let why = HelperReply.refusal(code: code, a: a, b: b, s1: s1, s2: s2) else {
                throw WireError(.malformed, "refusal \(code)")
            }
            reply = .refused(why)
        case .failed:
            let e = Int32(bitPattern: try r.u32())
            reply = .failed(operation: try r.string(max: 512, what: "operation"), errno: e)
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
                values[name] = try r.string(max: 4096, what: "attribute value")
            }
            reply = .attributes(CgroupAttributes(ownerUID: uid, values: values))
        case .error:
            let k = try r.u8()
            guard let ek = WireError.Kind(rawValue: k) else { throw WireError(.malformed, "error kind \(k)") }
            reply = .error(WireError(ek, try r.string(max: 1024, what: "message"), requestID: id))
        }
        try r.end()
        return (id, reply)
    }

    static func fields(of why: HelperRefusal) -> (UInt8, UInt64, UInt64, String, String) {
        switch why {
        case .invalidPath(let p): return (1, UInt64(p.rawValue), 0, "", "")
        case .root: return (2, 0, 0, "", "")
        case .ownCgroup(let p): return (3, 0, 0, HelperPath.text(p), "")
        case .ancestorOfOwn(let own): return (4, 0, 0, HelperPath.text(own), "")
        case .protected(let p, let pattern): return (5, 0, 0, HelperPath.text(p), pattern)
        case .symlink: return (6, 0, 0, "", "")
        case .crossesMount: return (7, 0, 0, "", "")
        case .notFound: return (8, 0, 0, "", "")
        case .notADirectory: return (9, 0, 0, "", "")
        case .staleID(let e, let f): return (10, e, f, "", "")
        case .notCgroup2: return (11, 0, 0, "", "")
        }
    }

    static func refusal(code: UInt8, a: UInt64, b: UInt64, s1: String, s2: String) -> HelperRefusal? {
        func path(_ s: String) -> CgroupPath? {
            if case .success(let p) = HelperPath.parse(s) { return p }
            return nil
        }
        let none = a == 0 && b == 0 && s1.isEmpty && s2.isEmpty
        switch code {
        case 1: return b == 0 && s1.isEmpty && s2.isEmpty && a <= 255 ? PathProblem(rawValue: UInt8(a)).map { .invalidPath($0) } : nil
        case 2: return none ? .root : nil
        case 3: return a == 0 && b == 0 && s2.isEmpty ? path(s1).map { .ownCgroup($0) } : nil
        case 4: return a == 0 && b == 0 && s2.isEmpty ? path(s1).map { .ancestorOfOwn(own: $0) } : nil
        case 5: return a == 0 && b == 0 && !s2.isEmpty ? path(s1).map { .protected($0, pattern: s2) } : nil
        case 6: return none ? .symlink : nil
        case 7: return none ? .crossesMount : nil
        case 8: return none ? .notFound : nil
        case 9: return none ? .notADirectory : nil
        case 10: return s1.isEmpty && s2.isEmpty && a != b ? .staleID(expected: a, found: b) : nil
        case 11: return none ? .notCgroup2 : nil
        default: return nil
        }
    }
}

// MARK: - the launcher

/// The messages between cgwarden's unprivileged side and the privileged
/// launcher that spawns kill helpers for it after it dropped its privileges.
///
/// Request, 2 bytes: version u8 (1), op u8 (1: end the current helper and
/// spawn a new one). Reply, 12 bytes, with the new helper's channel passed
/// as SCM_RIGHTS when status is 0:
///
///     0 version u8, 1 status u8 (0 ok, 1 failed), 2 pid i32, 6 errno i32,
///    10 previous helper's end: kind u8 (0 none, 1 exited, 2 signaled), 11 status or signal u8
public enum LauncherWire {
    public static let spawnRequest: [UInt8] = [HelperWire.version, 1]
    public static let replySize = 12

    public struct Reply: Equatable, Sendable {
        /// The new helper's pid, or the errno of the failed spawn.
        public var result: Result<Int32, SpawnFailure>
        /// How the helper this spawn replaced ended (nil: there was none).
        public var previous: HelperTermination?

        public init(result: Result<Int32, SpawnFailure>, previous: HelperTermination?) {
            self.result = result
            self.previous = previous
        }
    }

    public struct SpawnFailure: Error, Equatable, Sendable {
        public var errno: Int32
        public init(errno: Int32) { self.errno = errno }
    }

    public static func isSpawnRequest(_ b: [UInt8]) -> Bool { b == spawnRequest }

    public static func encode(_ reply: Reply) -> [UInt8] {
        var w = WireWriter()
        w.u8(HelperWire.version)
        switch reply.result {
        case .success(let pid): w.u8(0); w.u32(UInt32(bitPattern: pid)); w.u32(0)
        case .failure(let f): w.u8(1); w.u32(0); w.u32(UInt32(bitPattern: f.errno))
        }
        switch reply.previous {
        case nil: w.u8(0); w.u8(0)
        case .exited(let c)?: w.u8(1); w.u8(UInt8(truncatingIfNeeded: c))
        case .signaled(let s)?: w.u8(2); w.u8(UInt8(truncatingIfNeeded: s))
        }
        return w.bytes
    }

    public static func decode(_ b: [UInt8]) throws(WireError) -> Reply {
        var r = WireReader(b)
        if try r.u8() != HelperWire.version { throw WireError(.unsupportedVersion, "launcher reply version") }
        let status = try r.u8()
        let pid = Int32(bitPattern: try r.u32())
        let e = Int32(bitPattern: try r.u32())
        let kind = try r.u8(), code = Int32(try r.u8())
        try r.end()
        let previous: HelperTermination?
        switch kind {
        case 0: previous = nil
        case 1: previous = .exited(code)
        case 2: previous = .signaled(code)
        default: throw WireError(.malformed, "launcher termination kind \(kind)")
        }
        switch status {
        case 0 where pid > 0 && e == 0: return Reply(result: .success(pid), previous: previous)
        case 1 where pid == 0 && e > 0: return Reply(result: .failure(SpawnFailure(errno: e)), previous: previous)
        default: throw WireError(.malformed, "launcher reply status \(status) pid \(pid) errno \(e)")
        }
    }
}

// MARK: - bytes

struct WireWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }

    /// u16 length, then the UTF-8 bytes (callers keep strings below 64 KiB).
    mutating func string(_ s: String) {
        let u = Array(s.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(u.count))
        bytes += u
    }

    mutating func optionalString(_ s: String?) {
        u8(s == nil ? 0 : 1)
        string(s ?? "")
    }

    mutating func optionalU64(_ v: UInt64?) {
        u8(v == nil ? 0 : 1)
        u64(v ?? 0)
    }
}

struct WireReader {
    let b: [UInt8]
    var i = 0

    init(_ b: [UInt8]) { self.b = b }

    mutating func take(_ n: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard b.count - i >= n else { throw WireError(.truncated, "\(b.count) bytes, cut at \(i) (needed \(n) more)") }
        defer { i += n }
        return b[i..<(i + n)]
    }

    mutating func u8() throws(WireError) -> UInt8 { try take(1).first! }

    mutating func unsigned(_ n: Int) throws(WireError) -> UInt64 {
        var v: UInt64 = 0
        for (k, byte) in try take(n).enumerated() { v |= UInt64(byte) << (8 * k) }
        return v
    }

    mutating func u16() throws(WireError) -> UInt16 { UInt16(try unsigned(2)) }
    mutating func u32() throws(WireError) -> UInt32 { UInt32(try unsigned(4)) }
    mutating func u64() throws(WireError) -> UInt64 { try unsigned(8) }

    mutating func string(max: Int, what: String) throws(WireError) -> String {
        let n = Int(try u16())
        if n > max { throw WireError(.malformed, "\(what) of \(n) bytes (at most \(max))") }
        let raw = try take(n)
        guard let s = String(validating: raw, as: UTF8.self) else { throw WireError(.malformed, "\(what) is not UTF-8") }
        return s
    }

    mutating func optionalString(max: Int, what: String) throws(WireError) -> String? {
        let present = try u8()
        let s = try string(max: max, what: what)
        switch present {
        case 0 where s.isEmpty: return nil
        case 1: return s
        default: throw WireError(.malformed, "\(what): presence byte \(present)")
        }
    }

    mutating func optionalU64() throws(WireError) -> UInt64? {
        let present = try u8()
        let v = try u64()
        switch present {
        case 0 where v == 0: return nil
        case 1: return v
        default: throw WireError(.malformed, "presence byte \(present)")
        }
    }

    func end() throws(WireError) {
        if i != b.count { throw WireError(.malformed, "\(b.count - i) bytes after the end") }
    }
}
