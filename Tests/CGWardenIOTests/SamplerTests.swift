import Testing
import CGWardenCore
@testable import CGWardenIO
import CGWardenTestSupport

@Suite struct SamplerTests {
    func node() -> FixtureTree {
        let t = FixtureTree()
        var a = FixtureGroup()
        a.current = "1000"
        a.max = "4096"
        t.add("/a.slice", a)
        t.add("/a.slice/x")
        t.add("/b.slice")
        return t
    }

    @Test func sameResultAsTheWalker() throws {
        let t = node()
        let s = Sampler(root: t.root)
        let w = try Walker(root: t.root).walk(fields: .all)
        let first = try s.sample(fields: .all)
        let second = try s.sample(fields: .all)
        #expect(first.cgroups == w.cgroups)
        #expect(second.cgroups == w.cgroups)
        #expect(second.problems.isEmpty)
    }

    @Test func seesChangedValuesWithoutReopening() throws {
        let t = node()
        let counting = CountingFileSystem()
        let s = Sampler(root: t.root, fileSystem: counting)
        _ = try s.sample(fields: .status)
        let opened = counting.opened
        let held = s.openDescriptors
        writeFile(t.root + "/a.slice/memory.current", "2048\n")
        let r = try s.sample(fields: .status)
        #expect(r.cgroups.first { $0.path.description == "/a.slice" }?.memory?.current == 2048)
        #expect(counting.opened == opened, "a repeated sample opened \(counting.opened - opened) descriptors")
        #expect(s.openDescriptors == held)
        #expect(counting.open == held)
    }

    /// A group's own events read between samples, through the directory held
    /// (what the daemon does when a group empties, before it is removed).
    @Test func readsAGroupsOwnEventsBetweenSamples() throws {
        let t = node()
        let s = Sampler(root: t.root)
        let r = try s.sample(fields: .status)
        let a = try #require(r.cgroups.first { $0.path.description == "/a.slice" })
        writeFile(t.root + "/a.slice/memory.events.local", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n")
        #expect(s.eventsLocal(of: a.id)?.oomKill == 1)
        #expect(s.eventsLocal(of: a.id)?.max == 7)
        #expect(s.eventsLocal(of: 999_999_999) == nil)
        writeFile(t.root + "/a.slice/memory.events.local", "garbage\n")
        #expect(s.eventsLocal(of: a.id) == nil)
        removeTree(t.root + "/a.slice")
        _ = try s.sample(fields: .status)
        #expect(s.eventsLocal(of: a.id) == nil, "a group gone is forgotten")
    }

    @Test(arguments: [true, false])
    func followsGroupsComingAndGoing(inotify: Bool) throws {
        let t = node()
        let counting = CountingFileSystem()
        let s = Sampler(root: t.root, fileSystem: counting, watcher: inotify ? InotifyWatcher() : nil)
        _ = try s.sample(fields: .status)
        t.add("/c.slice")
        t.add("/b.slice/new")
        removeTree(t.root + "/a.slice")
        let r = try s.sample(fields: .status)
        #expect(r.cgroups.map(\.path.description) == ["/", "/b.slice", "/b.slice/new", "/c.slice"])
        #expect(counting.open == s.openDescriptors)
    }

    @Test func listsOnlyDirectoriesThatChanged() throws {
        let t = node()
        let counting = CountingFileSystem()
        let s = Sampler(root: t.root, fileSystem: counting)
        _ = try s.sample(fields: .status)
        #expect(counting.listings == 4)          // every group once
        _ = try s.sample(fields: .status)
        #expect(counting.listings == 4)          // nothing changed: no listing
        t.add("/b.slice/new")
        _ = try s.sample(fields: .status)
        #expect(counting.listings == 6)          // b.slice again, and its new child
        let withoutWatcher = Sampler(root: t.root, fileSystem: counting, watcher: nil)
        _ = try withoutWatcher.sample(fields: .status)
        _ = try withoutWatcher.sample(fields: .status)
        #expect(counting.listings == 6 + 2 * 5)  // five groups, listed at each sample
    }

    @Test func aRecreatedGroupGetsItsNewID() throws {
        let t = node()
        let s = Sampler(root: t.root)
        let before = try #require(try s.sample(fields: .status).cgroups.first { $0.path.description == "/b.slice" })
        removeTree(t.root + "/b.slice")
        let keep = TempDir()  // occupy the freed inode number elsewhere
        defer { keep.remove() }
        t.add("/b.slice")
        let after = try #require(try s.sample(fields: .status).cgroups.first { $0.path.description == "/b.slice" })
        #expect(after.id != before.id)
    }

    @Test func keepsOnlyWhatItIsTold() throws {
        let t = node()
        let s = Sampler(root: t.root, keepOpen: [.usage])
        _ = try s.sample(fields: .status)
        // One directory per group (4), memory.current per group with the
        // memory controller (3: not the root), subtree_control per parent (2).
        #expect(s.openDescriptors == 4 + 3 + 2)
    }

    @Test func closesEverythingWhenReleased() throws {
        let t = node()
        let counting = CountingFileSystem()
        do {
            let s = Sampler(root: t.root, fileSystem: counting)
            _ = try s.sample(fields: .all)
            #expect(counting.open > 10)
        }
        #expect(counting.open == 0)
    }
}

@Suite struct CgroupFileTests {
    @Test func indexIsThePositionInAllCases() {
        for (i, f) in CgroupFile.allCases.enumerated() { #expect(f.index == i) }
    }
}
