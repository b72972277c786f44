/// Request (22 bytes + path):
///
///     0  version    u8   1
///     1  action     u8   HelperAction
///     2  flags      u16  bit 0: force the fallback (kill only); others 0
///     4  request id u32  echoed in the reply
///     8  cgroup id  u64  inode of the group's directory; 0 for ping
///    16  timeout    u32  ms to wait for `populated 0` (kill only, else 0)
///    20  path len   u16  then the path: the names' own bytes joined by `/`
///                        (HelperPath syntax), any bytes but NUL
///
/// `armPressure` only, after the path: level u8 (0 some, 1 full), stall u32
/// and window u32 in microseconds (PressureTriggerSpec).
public enum HelperAction: UInt8, Equatable, Sendable, CaseIterable, CustomStringConvertible {
    /// Liveness and configuration: the reply is `pong(HelperInfo)`.
    case ping = 1
    case kill = 2
    /// Dry run: the same resolution and checks as `kill`, no write.
    case check = 3
    /// Owner and preference xattrs of a group (read-only: no refusal for
    /// protected or own groups).
    case attributes = 4
    /// Opens the group's `memory.pressure`, arms a PSI trigger on it and
    /// passes the descriptor back (SCM_RIGHTS): the unprivileged side cannot
    /// open the file for writing (mode 0644 root), and the trigger keeps
    /// working for whoever holds the descriptor.
    case armPressure = 5
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
        case .armPressure: return "arm-pressure"
        case .testForbiddenSyscall: return "test-forbidden-syscall"
        }
    }

    /// Whether the request names a cgroup (path and id).
    public var namesCgroup: Bool { self == .kill || self == .check || self == .attributes || self == .armPressure }
}

/// A PSI trigger: `some|full STALL WINDOW` (Documentation/accounting/psi.rst).
public struct PressureTriggerSpec: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var full: Bool
    public var stallMicros: UInt32
    public var windowMicros: UInt32

    /// The kernel's bounds on a window.
    public static let windows: ClosedRange<UInt32> = 500_000...10_000_000

    public init(full: Bool, stallMicros: UInt32, windowMicros: UInt32) {
        self.full = full
        self.stallMicros = stallMicros
        self.windowMicros = windowMicros
    }

    /// What is written to the pressure file.
    public var description: String { "\(full ? "full" : "some") \(stallMicros) \(windowMicros)" }

    /// Why the kernel would refuse it, or nil.
    public var problem: String? {
        if !PressureTriggerSpec.windows.contains(windowMicros) { return "window \(windowMicros) µs outside 500 ms...10 s" }
        if stallMicros == 0 || stallMicros > windowMicros { return "stall \(stallMicros) µs outside 1 µs...the window" }
        return nil
    }
}

public struct HelperRequest: Equatable, Sendable {
    public var requestID: UInt32
    public var action: HelperAction
    /// The raw bytes of the path; the decoder checks only its length and
    /// NUL, the helper refuses what names nothing beneath its root.
    public var path: [UInt8]
    public var cgroupID: UInt64
    public var timeoutMillis: UInt32
    public var forceFallback: Bool
    /// `armPressure` only.
    public var pressure: PressureTriggerSpec?

    public init(requestID: UInt32, action: HelperAction, path: [UInt8] = [], cgroupID: UInt64 = 0,
                timeoutMillis: UInt32 = 0, forceFallback: Bool = false, pressure: PressureTriggerSpec? = nil) {
        self.requestID = requestID
        self.action = action
        self.path = path
        self.cgroupID = cgroupID
        self.timeoutMillis = timeoutMillis
        self.forceFallback = forceFallback
        self.pressure = pressure
    }

    public static func armPressure(_ t: CgroupTarget, _ spec: PressureTriggerSpec, id: UInt32) -> HelperRequest {
        HelperRequest(requestID: id, action: .armPressure, path: t.path.bytes, cgroupID: t.id, pressure: spec)
    }

    public static func kill(_ t: CgroupTarget, id: UInt32, timeoutMillis: UInt32, forceFallback: Bool = false) -> HelperRequest {
        HelperRequest(requestID: id, action: .kill, path: t.path.bytes, cgroupID: t.id,
                      timeoutMillis: timeoutMillis, forceFallback: forceFallback)
    }

    public static func check(_ t: CgroupTarget, id: UInt32) -> HelperRequest {
        HelperRequest(requestID: id, action: .check, path: t.path.bytes, cgroupID: t.id)
    }

    public static func attributes(_ t: CgroupTarget, id: UInt32) -> HelperRequest {
        HelperRequest(requestID: id, action: .attributes, path: t.path.bytes, cgroupID: t.id)
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.u8(HelperWire.version)
        w.u8(action.rawValue)
        w.u16(forceFallback ? HelperWire.forceFallbackFlag : 0)
        w.u32(requestID)
        w.u64(cgroupID)
        w.u32(timeoutMillis)
        // Whole, however long: the decoder refuses an oversize request.
        w.blob(path, limit: Int(UInt16.max))
        if let pressure {
            w.u8(pressure.full ? 1 : 0)
            w.u32(pressure.stallMicros)
            w.u32(pressure.windowMicros)
        }
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
        let path = try r.blob(max: HelperPath.maxLength, what: "path")
        var pressure: PressureTriggerSpec?
        if action == .armPressure {
            let level = try r.u8()
            let stall = try r.u32(), window = try r.u32()
            if level > 1 { throw WireError(.malformed, "\(action): pressure level \(level)", requestID: id) }
            let spec = PressureTriggerSpec(full: level == 1, stallMicros: stall, windowMicros: window)
            if let problem = spec.problem { throw WireError(.malformed, "\(action): \(problem)", requestID: id) }
            pressure = spec
        }
        try r.end()
        func bad(_ why: String) -> WireError { WireError(.malformed, "\(action): \(why)", requestID: id) }
        if flags & ~HelperWire.forceFallbackFlag != 0 { throw bad("unknown flags \(flags)") }
        if flags != 0 && action != .kill { throw bad("flags on a request that is not kill") }
        if path.contains(0) { throw bad("NUL in the path") }
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
                             timeoutMillis: timeout, forceFallback: flags != 0, pressure: pressure)
    }
}
