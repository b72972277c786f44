import Testing
@testable import CGWardenCore

/// Inputs cgwarden-fuzz found (Tests/Fuzz/README.md), one test per class of
/// finding, fixed at its root.
@Suite struct FuzzFindingTests {
    /// wire: a launcher reply with no previous helper (kind 0) but a status
    /// byte of 0xff decoded as `previous: nil` and re-encoded with 0: two
    /// layouts for one reply, where a decoder accepts exactly one.
    @Test func launcherReplyWithoutAPreviousHelperHasNoStatus() throws {
        let found: [UInt8] = [0x01, 0x00, 0xd2, 0x04, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]
        #expect(throws: WireError(.malformed, "launcher reply: status 255 of no previous helper")) { try LauncherWire.decode(found) }
        var canonical = found
        canonical[11] = 0
        let r = try LauncherWire.decode(canonical)
        #expect(r == LauncherWire.Reply(result: .success(0x0800_04d2), previous: nil))
        #expect(LauncherWire.encode(r) == canonical)
    }
}
