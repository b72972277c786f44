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
        case 0:
            // No previous helper has no status either: one layout per reply.
            if code != 0 { throw WireError(.malformed, "launcher reply: status \(code) of no previous helper") }
            previous = nil
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
