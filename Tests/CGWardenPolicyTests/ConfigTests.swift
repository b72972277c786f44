import Testing
import CGWardenCore
@testable import CGWardenPolicy

@Suite struct QuantityTests {
    @Test(arguments: [("512M", UInt64(512) << 20), ("2G", 2 << 30), ("1.5G", 3 << 29), ("4096", 4096),
                      ("64K", 64 << 10), ("2GiB", 2 << 30), ("1T", 1 << 40), ("0", 0)])
    func sizes(text: String, bytes: UInt64) {
        #expect(Quantities.size(text) == bytes)
    }

    @Test(arguments: ["", "M", "12X", "-1G", "1.2.3G", "G2", "1e3M", " 1G"])
    func badSizes(_ text: String) {
        #expect(Quantities.size(text) == nil)
    }

    @Test func durations() {
        #expect(Duration.parse("500ms") == .milliseconds(saturating: 500))
        #expect(Duration.parse("10s") == .seconds(saturating: 10))
        #expect(Duration.parse("1.5s") == .seconds(saturating: 1.5))
        #expect(Duration.parse("5m") == .seconds(saturating: 300))
        #expect(Duration.parse("2h") == .seconds(saturating: 7200))
        #expect(Duration.parse("10") == nil)
        #expect(Duration.parse("s") == nil)
        #expect(Duration.parse("-1s") == nil)
        #expect(Duration.seconds(saturating: 15).text == "15s")
        #expect(Duration.milliseconds(saturating: 100).text == "100ms")
        #expect(Duration.seconds(saturating: 90).text == "90s")
        #expect(Duration.seconds(saturating: 300).text == "5m")
        #expect(Duration.seconds(saturating: 9.9).text == "9.9s")
    }

    @Test func percents() {
        #expect(Percent.parse("90%") == .percent(90))
        #expect(Percent.parse("12.5%")?.fraction == 0.125)
        #expect(Percent.parse("90") == nil)
        #expect(Percent.percent(90).description == "90%")
    }
}

@Suite struct ConfigLoadingTests {
    static let full = """
        protect = ["/init.scope", "/system.slice/sshd.service"]
        min_kill_size = "16M"

        [daemon]
        interval = "2s"
        user = "cgwarden"
        dry_run = true

        [[guard]]
        name = "tenants"
        match = "/tenants.slice/*"
        rank = "usage_above_protection"
        prefer = ["/tenants.slice/batch-*"]
        avoid = "/tenants.slice/db.slice"
        post_action_delay = "20s"

          [[guard.trigger]]
          usage_of_limit = "90%"
          count = "unreclaimable"
          for = "10s"

          [[guard.trigger]]
          oom_kill = true

        [[guard]]
        name = "node"
        match = "/"
        candidates = "leaves"
        combine = "all"
        qos_order = true
        [[guard.trigger]]
        node_available_below = "5%"
        [[guard.trigger]]
        node_pressure_above = "40%"
        pressure = "full"
        window = "60s"
        for = "30s"
        """

    @Test func readsEverything() throws {
        let c = try config(ConfigLoadingTests.full)
        #expect(c.protect.map(\.text) == ["/init.scope", "/system.slice/sshd.service"])
        #expect(c.daemon.interval == .seconds(2))
        #expect(c.daemon.user == "cgwarden")
        #expect(c.daemon.group == "cgwarden")
        #expect(!c.daemon.allowSharedUser)
        #expect(c.daemon.dryRun)
        #expect(c.guards.map(\.name) == ["tenants", "node"])
        let t = c.guards[0]
        #expect(t.origin == ConfigOrigin(file: "test.toml", line: 9, column: 1))
        #expect(t.match.map(\.text) == ["/tenants.slice/*"])
        #expect(t.rank == .usageAboveProtection)
        #expect(t.minKillSize == 16 << 20)
        #expect(t.postActionDelay == .seconds(20))
        #expect(t.avoid.map(\.text) == ["/tenants.slice/db.slice"])
        #expect(t.triggers.map(\.kind) == [.usageOfLimit(.percent(90), limit: .max, count: .unreclaimable), .oomKill])
        #expect(t.triggers[0].sustain == .seconds(10))
        #expect(t.triggers[0].origin.line == 17)
        let n = c.guards[1]
        #expect(n.candidates == .leaves)
        #expect(n.combine == .all)
        #expect(n.qosOrder)
        #expect(n.postActionDelay == .seconds(15))
        #expect(n.triggers.map(\.kind) == [.nodeAvailableBelow(.percent(.percent(5))), .nodePressure(.full, .avg60, .percent(40))])
    }

    @Test func dropInsOverrideAddAndReplace() throws {
        let c = try ConfigLoader.load([
            (name: "/etc/cgwarden/cgwarden.toml", text: ConfigLoadingTests.full),
            (name: "/etc/cgwarden/cgwarden.d/10-site.toml", text: """
                protect = ["/system.slice/backup.service"]
                [daemon]
                dry_run = false
                [[guard]]
                name = "tenants"
                match = "/tenants.slice/*"
                [[guard.trigger]]
                usage_above = "4G"
                [[guard]]
                name = "batch"
                match = "/batch.slice"
                [[guard.trigger]]
                pressure_above = "50%"
                """),
        ])
        #expect(c.files == ["/etc/cgwarden/cgwarden.toml", "/etc/cgwarden/cgwarden.d/10-site.toml"])
        #expect(c.protect.count == 3)
        #expect(!c.daemon.dryRun)
        #expect(c.daemon.interval == .seconds(2))
        #expect(c.guards.map(\.name) == ["tenants", "node", "batch"])
        #expect(c.guards[0].triggers.map(\.kind) == [.usageAbove(4 << 30, count: .all)])
        #expect(c.guards[0].origin.file == "/etc/cgwarden/cgwarden.d/10-site.toml")
        #expect(c.guards[0].rank == .usage)  // replaced whole
    }

    func errors(_ text: String, file: String = "test.toml") -> [String] {
        do {
            _ = try ConfigLoader.load([(name: file, text: text)])
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func syntaxErrorsNameTheFileLineAndColumn() {
        #expect(errors("[[guard]]\nname = tenants\n") == ["test.toml:2:8: invalid value 'tenants' (strings must be quoted)"])
    }

    @Test func unknownKeysSuggestTheRightOne() {
        #expect(errors("""
            protect = []
            [daemon]
            intervall = "1s"
            """) == ["test.toml:3:1: daemon: intervall: unknown key (did you mean 'interval'?)"])
        #expect(errors("colour = 1\n") == ["test.toml:1:1: colour: unknown key (known here: daemon, events, protect, honor_xattrs, guard, hook, metrics, min_kill_size, post_action_delay)"])
    }

    @Test func theFlightRecorderSettings() throws {
        #expect(try config("").events == EventSettings())
        #expect(EventSettings().flightRecorder == .seconds(300) && EventSettings().flightRecorderMaxSize == 16 << 20)
        let c = try config("[events]\nflight_recorder = \"90s\"\nflight_recorder_max_size = \"4M\"\n")
        #expect(c.events.flightRecorder == .seconds(90) && c.events.flightRecorderMaxSize == 4 << 20)
        #expect(try config("[events]\nflight_recorder = false\n").events.flightRecorder == .zero)
        #expect(try config("[events]\nflight_recorder = \"0s\"\n").events.flightRecorder == .zero)
        #expect(errors("[events]\nflight_recorder_max_size = \"65M\"\n")
                == ["test.toml:2:28: events.flight_recorder_max_size: must be at most 64M (the guard locks its memory, at most 256 MiB; the recorder may take a quarter)"])
        #expect(errors("[events]\nflight_recorder = true\n") == ["test.toml:2:19: events.flight_recorder: must be a duration like \"10s\", not a boolean"])
        #expect(errors("[events]\nflight_recorder_window = \"5m\"\n").first?.contains("unknown key") == true)
    }

    @Test(arguments: [
        ("usage_of_limit = \"lots\"", "test.toml:5:18: guard 'g' trigger 1: usage_of_limit: 'lots' is not a percentage (write e.g. \"90%\")"),
        ("usage_of_limit = \"150%\"", "test.toml:5:18: guard 'g' trigger 1: usage_of_limit: 150% can never be reached (memory.current never exceeds memory.max)"),
        ("usage_above = \"12Q\"", "test.toml:5:15: guard 'g' trigger 1: usage_above: '12Q' is not a size (write e.g. \"512M\", \"2G\", or bytes)"),
        ("usage_above = true", "test.toml:5:15: guard 'g' trigger 1: usage_above: must be a size like \"512M\", not a boolean"),
        ("pressure_above = \"40%\"\nfor = 10", "test.toml:6:7: guard 'g' trigger 1: for: must be a duration like \"10s\", not an integer"),
        ("pressure_above = \"40%\"\nfor = \"10 s\"", "test.toml:6:7: guard 'g' trigger 1: for: '10 s' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")"),
        ("pressure_above = \"40%\"\npressure = \"most\"", "test.toml:6:12: guard 'g' trigger 1: pressure: 'most' is not one of: some, full"),
        ("oom_kill = true\nfor = \"5s\"", "test.toml:6:1: guard 'g' trigger 1: for: does not apply to a 'oom_kill' trigger"),
        ("usage_above = \"1G\"\nlimit = \"high\"", "test.toml:6:1: guard 'g' trigger 1: limit: does not apply to a 'usage_above' trigger"),
        ("usage_above = \"1G\"\npressure_above = \"5%\"", "test.toml:6:1: guard 'g' trigger 1: pressure_above: a trigger tests one thing; 'usage_above' is already set (write a second [[guard.trigger]])"),
        ("for = \"5s\"", "test.toml:4:1: guard 'g' trigger 1: needs one of: usage_of_limit, usage_above, pressure_above, node_available_below, node_swap_free_below, node_pressure_above, events_per_second_above, oom_kill"),
        ("oom_kill = false", "test.toml:5:12: guard 'g' trigger 1: oom_kill: write 'oom_kill = true' (it fires when the kernel OOM-killed a task in the group)"),
        ("node_available_below = \"101%\"", "test.toml:5:24: guard 'g' trigger 1: node_available_below: 101% can never be reached (a share of a total)"),
        ("events_per_second_above = -3", "test.toml:5:27: guard 'g' trigger 1: events_per_second_above: must be 0 or more"),
        ("usage_above = \"1G\"\ntreshold = 3", "test.toml:6:1: guard 'g' trigger 1: treshold: unknown key (known here: usage_above, count, for)"),
    ])
    func badTriggersNameTheKeyAndLine(trigger: String, message: String) {
        #expect(errors("""
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            \(trigger)
            """) == [message])
    }

    @Test(arguments: [
        ("match = \"tenants.slice/*\"", "test.toml:3:9: guard 'g': match: 'tenants.slice/*' can never match: a cgroup pattern starts with '/' (a path below the cgroup root)"),
        ("match = [\"/a\", \"/b/../c\"]", "test.toml:3:16: guard 'g': match: '/b/../c' can never match: '..' is never the name of a cgroup"),
        ("match = \"/a\"\ncandidates = \"everyone\"", "test.toml:4:14: guard 'g': candidates: 'everyone' is not one of: self, children, leaves, pods"),
        ("match = \"/a\"\nrank = \"size\"", "test.toml:4:8: guard 'g': rank: 'size' is not one of: usage, usage_above_protection, growth, pressure, swap"),
        ("match = \"/a\"\nprefer = [\"/a/*\"]\navoid = [\"/a/*\"]", "test.toml:5:9: guard 'g': avoid: '/a/*' is both preferred and avoided"),
        ("match = \"/a\"\nmin_kill_size = \"lots\"", "test.toml:4:17: guard 'g': min_kill_size: 'lots' is not a size (write e.g. \"512M\", \"2G\", or bytes)"),
    ])
    func badGuards(body: String, message: String) {
        #expect(errors("""
            [[guard]]
            name = "g"
            \(body)
            [[guard.trigger]]
            usage_above = "1G"
            """) == [message])
    }

    @Test func missingPartsAndDuplicates() {
        #expect(errors("[[guard]]\nmatch = \"/a\"\n") == ["test.toml:1:1: guard: needs a name"])
        #expect(errors("[[guard]]\nname = \"g\"\n[[guard.trigger]]\nusage_above = \"1G\"\n")
                == ["test.toml:1:1: guard 'g': needs 'match': the cgroups it watches (e.g. \"/tenants.slice/*\")"])
        #expect(errors("[[guard]]\nname = \"g\"\nmatch = \"/a\"\n") == ["test.toml:1:1: guard 'g': needs at least one [[guard.trigger]]"])
        #expect(errors("""
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            usage_above = "1G"
            [[guard]]
            name = "g"
            match = "/b"
            [[guard.trigger]]
            usage_above = "1G"
            """) == ["test.toml:6:1: guard 'g': a second guard with this name (the first is at line 1); in a drop-in it would replace it"])
    }

    @Test func aGuardThatCanOnlyHitProtectedGroupsIsAContradiction() {
        #expect(errors("""
            protect = ["/system.slice/**"]
            [[guard]]
            name = "sshd"
            match = "/system.slice/sshd.service"
            [[guard.trigger]]
            usage_above = "1G"
            """) == ["test.toml:2:1: guard 'sshd': every group it watches is protected, so it could never kill anything"])
    }

    @Test func allErrorsOfAllFilesAreReported() {
        do {
            _ = try ConfigLoader.load([(name: "a.toml", text: "x = 1\n"), (name: "b.toml", text: "y = 2\n[daemon]\nuser = 3\n")])
            Issue.record("accepted")
        } catch {
            #expect(error.errors.map { "\($0.origin.file):\($0.origin.line) \($0.key)" } == ["a.toml:1 x", "b.toml:1 y", "b.toml:3 daemon.user"])
        }
    }
}

@Suite struct TriggerSchemaTests {
    /// A value each kind accepts, and what it reads as; the switch makes a new kind a compile error here.
    static func sample(_ key: TriggerKey) -> (value: String, kind: TriggerKind) {
        switch key {
        case .usageOfLimit: ("\"90%\"", .usageOfLimit(.percent(90), limit: .max, count: .all))
        case .usageAbove: ("\"1G\"", .usageAbove(1 << 30, count: .all))
        case .pressureAbove: ("\"40%\"", .pressure(.some, .avg10, .percent(40)))
        case .nodeAvailableBelow: ("\"5%\"", .nodeAvailableBelow(.percent(.percent(5))))
        case .nodeSwapFreeBelow: ("\"512M\"", .nodeSwapFreeBelow(.bytes(512 << 20)))
        case .nodePressureAbove: ("\"30%\"", .nodePressure(.some, .avg10, .percent(30)))
        case .eventsPerSecondAbove: ("100", .eventRate(.max, perSecond: 100))
        case .oomKill: ("true", .oomKill)
        }
    }

    @Test(arguments: TriggerKey.allCases)
    func everyKindLoads(_ key: TriggerKey) throws {
        let sample = TriggerSchemaTests.sample(key)
        let config = try ConfigLoader.load([(name: "test.toml", text: """
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            \(key.rawValue) = \(sample.value)
            """)])
        #expect(config.guards.first?.triggers.map(\.kind) == [sample.kind])
    }

    @Test func everyModifierBelongsToSomeKind() {
        #expect(Set(TriggerKey.allCases.flatMap(\.modifiers)) == Set(TriggerModifier.allCases))
    }
}
