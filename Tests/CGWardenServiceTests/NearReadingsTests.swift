import Testing
import CGWardenCore
import CGWardenPolicy
@testable import CGWardenService
import CGWardenTestSupport

/// What the daemon reads of a group near a threshold between two snapshots:
/// the one figure its trigger measures, through the sampler's descriptors.
@Suite struct NearReadingsTests {
    @Test func readsEachFigureAsItIsNow() throws {
        let t = FixtureTree()
        var a = FixtureGroup()
        a.current = "1000"
        a.pressure = FixtureGroup.pressure(some: "12.50")
        t.add("/a", a)
        writeFile(t.root + "/a/memory.stat", "anon 300\nfile 500\nshmem 20\nkernel 80\n")
        let source = SnapshotSource(root: t.root, proc: t.proc, fields: .daemon)
        let snap = try source.take().snapshot
        let id = try #require(snap.cgroups.first { $0.path == CgroupPath("/a") }?.id)
        #expect(source.read(.current, of: id, node: nil) == 1000)
        #expect(source.read(.unreclaimable, of: id, node: nil) == 400)
        #expect(source.read(.pressure(.some, .avg10), of: id, node: nil) == 12.5)

        // Changed since the snapshot: read as it is now, the snapshot untouched.
        writeFile(t.root + "/a/memory.current", "5000\n")
        writeFile(t.root + "/a/memory.stat", "anon 900\nfile 500\nshmem 20\nkernel 80\n")
        #expect(source.read(.current, of: id, node: nil) == 5000)
        #expect(source.read(.unreclaimable, of: id, node: nil) == 1000)

        let node = try source.proc.system()
        #expect(source.read(.nodeAvailable, of: 0, node: node) == Double(node.meminfo.memAvailable))
        #expect(source.read(.nodeAvailable, of: 0, node: nil) == nil)

        // Unparsable, unknown or gone: nil, left to the next snapshot.
        writeFile(t.root + "/a/memory.current", "garbage\n")
        #expect(source.read(.current, of: id, node: nil) == nil)
        #expect(source.read(.current, of: 999_999, node: nil) == nil)
        removeTree(t.root + "/a")
        _ = try source.take()
        #expect(source.read(.unreclaimable, of: id, node: nil) == nil)
    }
}
