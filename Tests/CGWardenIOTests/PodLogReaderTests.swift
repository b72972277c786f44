#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenIO
import CGWardenTestSupport

private let uidA = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
private let uidB = "1c2d3e4f-5061-4273-8485-96a7b8c9d0e1"

/// Long after any mtime of the test: a listing then is trusted until the directory changes.
private let later = Timestamp(monotonicNanos: 1, wallNanos: UInt64.max / 2)

@Suite struct PodLogReaderTests {
    @Test func namesFromTheDirectoryAndOnlyListedWhenItChanges() {
        let t = FixtureTree()
        defer { t.dir.remove() }
        let dir = t.addPodLogs(["shop_cart-0_\(uidA)", "not-a-pod"])
        writeFile(dir + "/stray-file", "")  // a file is no pod's directory: not even counted
        let reader = PodLogReader(directory: dir)
        let first = reader.read(at: later)
        #expect(first[uidA]?.description == "shop/cart-0")
        #expect(first.count == 1 && first.ignored == 1 && first.directory == dir)
        #expect(first.warnings == ["pod names: 1 entry of \(dir) is not NAMESPACE_NAME_UID (e.g. 'not-a-pod'): ignored"])
        #expect(reader.read(at: later) == first)
        #expect(reader.listings == 1)
        // A pod comes: the directory's mtime changes, it is listed again.
        t.addPodLogs(["shop_cart-1_\(uidB)"])
        let second = reader.read(at: later)
        #expect(reader.listings == 2)
        #expect(second[uidB]?.description == "shop/cart-1")
        // A pod goes: the kubelet removes its directory.
        removeTree(dir + "/shop_cart-0_\(uidA)")
        let third = reader.read(at: later)
        #expect(third[uidA] == nil && third[uidB] != nil)
        #expect(reader.listings == 3)
    }

    @Test func aListingTakenWithinTheMtimeGrainIsNotTrusted() {
        let t = FixtureTree()
        defer { t.dir.remove() }
        let dir = t.addPodLogs(["shop_cart-0_\(uidA)"])
        let reader = PodLogReader(directory: dir)
        // At the epoch: the mtime is later than the listing, which proves nothing.
        let early = Timestamp(monotonicNanos: 1, wallNanos: 0)
        _ = reader.read(at: early)
        _ = reader.read(at: early)
        #expect(reader.listings == 2)
    }

    @Test func aMissingDirectoryIsNoPods() {
        let reader = PodLogReader(directory: "/tmp/cgwarden-no-such-pod-logs-\(getpid())")
        let names = reader.read(at: later)
        #expect(names == .empty)
        #expect(names.warnings.isEmpty)
        #expect(reader.listings == 0)
    }

    @Test func whatCannotBeReadIsSaid() {
        let t = FixtureTree()
        defer { t.dir.remove() }
        writeFile(t.dir.path + "/file", "")
        let notADirectory = PodLogReader(directory: t.dir.path + "/file").read(at: later)
        #expect(notADirectory.count == 0)
        #expect(notADirectory.warnings == ["pod names: cannot open \(t.dir.path)/file: Not a directory (openat); pods are shown by UID"])
        // The configured directory itself is not followed when it is a symlink.
        let dir = t.addPodLogs(["shop_cart-0_\(uidA)"])
        symlink(dir, t.dir.path + "/link")
        let link = PodLogReader(directory: t.dir.path + "/link").read(at: later)
        #expect(link.count == 0)
        #expect(link.problem?.hasPrefix("cannot open \(t.dir.path)/link: ") == true, "\(link.problem ?? "-")")
    }

    @Test func theListingIsBounded() {
        let t = FixtureTree()
        defer { t.dir.remove() }
        let dir = t.addPodLogs((0..<5).map { "ns_pod-\($0)_0000000\($0)-0000-0000-0000-000000000000" })
        let names = PodLogReader(directory: dir, limit: 3).read(at: later)
        #expect(names.count == 3)
        #expect(names.truncatedAt == 3)
        #expect(names.warnings == ["pod names: \(dir) has more than 3 entries; only 3 are read, the pods of the others are shown by UID"])
        let all = PodLogReader(directory: dir, limit: 5).read(at: later)
        #expect(all.count == 5 && all.truncatedAt == nil)
    }
}
