/// The messages between cgwarden and its kill helper, one per
/// `SOCK_SEQPACKET` packet (the kernel keeps message boundaries, so a
/// message is exactly one packet and nothing is framed). Little-endian,
/// fixed layouts, version 1; a decoder accepts exactly one layout and
/// rejects everything else (short, long, unknown version or action, bad
/// flags, ...). Pure: bytes in, values out.
///
/// Requests are in `HelperRequest.swift`, replies in `HelperReply.swift`,
/// the launcher's messages in `LauncherWire.swift`; this file holds the
/// limits and the byte codec they share.
public enum HelperWire {
    public static let version: UInt8 = 1
    public static let requestHeaderSize = 22
    /// The largest request: the header and a path of PATH_MAX - 1 bytes.
    public static let maxRequestSize = requestHeaderSize + HelperPath.maxLength
    /// Larger than any reply: a refusal or a failure carries at most one
    /// path of 4,095 bytes and one pattern or detail of at most 4,095 bytes.
    public static let maxReplySize = 16 * 1024
    /// The longest wait for `populated 0` a request may ask for.
    public static let maxTimeoutMillis: UInt32 = 600_000
    /// The longest protected pattern or detail text a reply carries.
    public static let maxTextSize = 4095

    static let forceFallbackFlag: UInt16 = 1
}

/// Appends little-endian fields.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }

    /// u16 length, then the bytes, cut at `limit` (the matching reader's
    /// maximum, so that what is written can always be read back).
    mutating func blob<C: Collection<UInt8>>(_ b: C, limit: Int) {
        let u = Array(b.prefix(min(limit, Int(UInt16.max))))
        u16(UInt16(u.count))
        bytes += u
    }

    /// A text as UTF-8, cut at `limit` bytes on a character boundary.
    mutating func string(_ s: String, limit: Int) {
        var u = Array(s.utf8)
        if u.count > limit {
            var cut = limit
            while cut > 0 && u[cut] & 0xC0 == 0x80 { cut -= 1 }
            u = Array(u[..<cut])
        }
        blob(u, limit: limit)
    }

    /// A path in a reply: whole up to PATH_MAX - 1 bytes; a longer one (a
    /// group found deep below a target) is cut after a name and ends in a
    /// name `…`, so that it still reads as a path and names the branch.
    mutating func path(_ p: CgroupPath) {
        guard p.bytes.count > HelperPath.maxLength else { return blob(p.bytes, limit: HelperPath.maxLength) }
        let ellipsis = Array("…".utf8)
        let room = HelperPath.maxLength - 1 - ellipsis.count
        let cut = p.bytes[..<room].lastIndex(of: CgroupPath.slash) ?? 0
        blob(Array(p.bytes[..<cut]) + (cut > 0 ? [CgroupPath.slash] : []) + ellipsis, limit: HelperPath.maxLength)
    }

    mutating func optionalPath(_ p: CgroupPath?) {
        u8(p == nil ? 0 : 1)
        path(p ?? .root)
    }

    mutating func optionalU64(_ v: UInt64?) {
        u8(v == nil ? 0 : 1)
        u64(v ?? 0)
    }
}

/// Reads little-endian fields; every read checks the length left.
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

    mutating func blob(max: Int, what: String) throws(WireError) -> [UInt8] {
        let n = Int(try u16())
        if n > max { throw WireError(.malformed, "\(what) of \(n) bytes (at most \(max))") }
        return Array(try take(n))
    }

    mutating func string(max: Int, what: String) throws(WireError) -> String {
        let raw = try blob(max: max, what: what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw WireError(.malformed, "\(what) is not UTF-8") }
        return s
    }

    /// A path as HelperPath reads it (raw names, relative, no `..`).
    mutating func path(what: String) throws(WireError) -> CgroupPath {
        let raw = try blob(max: HelperPath.maxLength, what: what)
        switch HelperPath.parse(raw) {
        case .success(let p): return p
        case .failure(let problem): throw WireError(.malformed, "\(what): \(problem)")
        }
    }

    mutating func optionalPath(what: String) throws(WireError) -> CgroupPath? {
        let present = try u8()
        let p = try path(what: what)
        switch present {
        case 0 where p.isRoot: return nil
        case 1: return p
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
