import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// Numbers no configuration should hold: infinities, NaN, 1e308, integers at the 64-bit edges,
/// percentages and sizes of 20 or 400 digits, durations past 292 years. Each is a config error
/// `file:line:column: key: message`, never a trap (Swift traps converting an out-of-range
/// Double to an integer, and on integer overflow).
@Suite struct ConfigNumberTests {
    static let nines400 = String(repeating: "9", count: 400)
    static let neverMax = "can never be reached (memory.current never exceeds memory.max)"
    static let neverHigh = "can never be reached (memory.current is a 64-bit count of bytes, memory.high at least one 4 KiB page)"
    static let neverPSI = "can never be reached (PSI is a share of time)"
    static let neverRate = "can never be reached (a 64-bit counter sampled at least 10 ms apart)"
    static let tooLong = "is too long (at most 2562047h, about 292 years: durations are signed 64-bit nanoseconds)"
    static let tooBig = "is too large (a size is a 64-bit count of bytes)"
    static let notSize = "is not a size (write e.g. \"512M\", \"2G\", or bytes)"

    func errors(_ text: String) -> [String] {
        do {
            _ = try ConfigLoader.load([(name: "test.toml", text: text)])
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    /// One trigger in a guard; the first line is `key = value` on line 5.
    func triggerErrors(_ trigger: String) -> [String] {
        errors("[[guard]]\nname = \"g\"\nmatch = \"/a\"\n[[guard.trigger]]\n" + trigger + "\n")
    }

    /// `test.toml:5:<column of the value>: guard 'g' trigger 1: <key>: <message>`.
    func expected(_ trigger: String, _ message: String) -> String {
        let key = String(trigger.prefix { $0 != " " })
        return "test.toml:5:\(key.count + 4): guard 'g' trigger 1: \(key): \(message)"
    }

    // Triggers whose own value is hostile: the error sits on line 5.
    @Test(arguments: [
        // Infinities and NaN (TOML writes them bare).
        ("usage_of_limit = inf", "must be a finite number, not inf"),
        ("usage_of_limit = -inf", "must be a finite number, not -inf"),
        ("usage_of_limit = nan", "must be a finite number, not nan"),
        ("usage_of_limit = +nan\nlimit = \"high\"", "must be a finite number, not nan"),
        ("pressure_above = inf", "must be a finite number, not inf"),
        ("node_pressure_above = -nan", "must be a finite number, not nan"),
        ("events_per_second_above = inf", "must be a finite number, not inf"),
        ("events_per_second_above = nan", "must be a finite number, not nan"),
        ("events_per_second_above = -inf", "must be a finite number, not -inf"),
        ("node_available_below = inf", "must be a size like \"512M\", not a float"),
        ("usage_above = nan", "must be a size like \"512M\", not a float"),
        // Finite but enormous floats.
        ("usage_of_limit = 1e308", "1e+308% " + neverMax),
        ("usage_of_limit = 1e308\nlimit = \"high\"", "1e+308% " + neverHigh),
        ("usage_of_limit = 4.6e17\nlimit = \"high\"", "4.6e+17% " + neverHigh),
        ("pressure_above = 1.7976931348623157e308", "1.7976931348623157e+308% " + neverPSI),
        ("events_per_second_above = 1e308", "1e+308 " + neverRate),
        ("usage_of_limit = -1e308", "must be 0 or more"),
        ("node_swap_free_below = 1e308", "must be a size like \"512M\", not a float"),
        // Integers at the 64-bit edges.
        ("usage_of_limit = 9223372036854775807", "9223372036854775807% " + neverMax),
        ("node_pressure_above = 9223372036854775807", "9223372036854775807% " + neverPSI),
        ("usage_of_limit = -9223372036854775808", "must be 0 or more"),
        ("pressure_above = -1", "must be 0 or more"),
        ("usage_above = -9223372036854775808", "must be 0 or more"),
        ("events_per_second_above = -9223372036854775808", "must be 0 or more"),
        // Percentages written as strings.
        ("usage_of_limit = \"99999999999999999999%\"", "99999999999999999999% " + neverMax),
        ("usage_of_limit = \"\(nines400)%\"", "\(nines400)% " + neverMax),
        ("usage_of_limit = \"99999999999999999999%\"\nlimit = \"high\"", "99999999999999999999% " + neverHigh),
        ("usage_of_limit = \"\(nines400)%\"\nlimit = \"high\"", "\(nines400)% " + neverHigh),
        ("pressure_above = \"1e400%\"", "'1e400%' is not a percentage (write e.g. \"90%\")"),
        ("node_pressure_above = \"inf%\"", "'inf%' is not a percentage (write e.g. \"90%\")"),
        ("node_available_below = \"99999999999999999999%\"", "99999999999999999999% can never be reached (a share of a total)"),
        ("node_swap_free_below = \"\(nines400)%\"", "\(nines400)% can never be reached (a share of a total)"),
        ("usage_of_limit = \"-5%\"", "'-5%' is not a percentage (write e.g. \"90%\")"),
        // Sizes written as strings.
        ("usage_above = \"99999999999999999999G\"", "'99999999999999999999G' " + tooBig),
        ("usage_above = \"99999999999999999999\"", "'99999999999999999999' " + tooBig),
        ("usage_above = \"16000P\"", "'16000P' " + tooBig),
        ("node_swap_free_below = \"\(nines400)T\"", "'\(nines400)T' " + tooBig),
        ("node_available_below = \"\(nines400)\"", "'\(nines400)' " + tooBig),
        ("usage_above = \"1e400G\"", "'1e400G' " + notSize),
        ("usage_above = \"١٢G\"", "'١٢G' " + notSize),
        ("usage_above = \"١٢\"", "'١٢' " + notSize),
    ])
    func hostileTriggerValues(trigger: String, message: String) {
        #expect(triggerErrors(trigger) == [expected(trigger, message)])
    }

    // Durations, and numbers outside triggers.
    @Test(arguments: [
        ("pressure_above = \"40%\"\nfor = \"1e400s\"",
         "test.toml:6:7: guard 'g' trigger 1: for: '1e400s' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")"),
        ("pressure_above = \"40%\"\nfor = \"18446744073709551616h\"",
         "test.toml:6:7: guard 'g' trigger 1: for: '18446744073709551616h' " + tooLong),
        ("pressure_above = \"40%\"\nfor = \"2562048h\"", "test.toml:6:7: guard 'g' trigger 1: for: '2562048h' " + tooLong),
        ("pressure_above = \"40%\"\nfor = \"\(nines400)ms\"", "test.toml:6:7: guard 'g' trigger 1: for: '\(nines400)ms' " + tooLong),
        ("pressure_above = \"40%\"\nfor = \"-1s\"",
         "test.toml:6:7: guard 'g' trigger 1: for: '-1s' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")"),
        ("usage_of_limit = 99999999999999999999", "test.toml:5:18: integer '99999999999999999999' overflows 64 bits"),
        ("events_per_second_above = 1e400", "test.toml:5:27: float '1e400' is out of range"),
    ])
    func hostileDurationsAndLiterals(trigger: String, message: String) {
        #expect(triggerErrors(trigger) == [message])
    }

    @Test(arguments: [
        ("min_kill_size = \"99999999999999999999G\"", "test.toml:1:17: min_kill_size: '99999999999999999999G' " + tooBig),
        ("min_kill_size = -1", "test.toml:1:17: min_kill_size: must be 0 or more"),
        ("post_action_delay = \"3000000h\"", "test.toml:1:21: post_action_delay: '3000000h' " + tooLong),
        ("[daemon]\ninterval = \"9999999999h\"", "test.toml:2:12: daemon.interval: '9999999999h' " + tooLong),
        ("[daemon]\ninterval = \"\(nines400)s\"", "test.toml:2:12: daemon.interval: '\(nines400)s' " + tooLong),
        ("[daemon]\ninterval = inf", "test.toml:2:12: daemon.interval: must be a duration like \"10s\", not a float"),
        ("[[guard]]\nname = \"g\"\nmatch = \"/a\"\nmin_kill_size = 1e308\n[[guard.trigger]]\noom_kill = true",
         "test.toml:4:17: guard 'g': min_kill_size: must be a size like \"512M\", not a float"),
        ("[[guard]]\nname = \"g\"\nmatch = \"/a\"\nmin_kill_size = -9223372036854775808\n[[guard.trigger]]\noom_kill = true",
         "test.toml:4:17: guard 'g': min_kill_size: must be 0 or more"),
        ("[[guard]]\nname = \"g\"\nmatch = \"/a\"\npost_action_delay = \"\(nines400)h\"\n[[guard.trigger]]\noom_kill = true",
         "test.toml:4:21: guard 'g': post_action_delay: '\(nines400)h' " + tooLong),
    ])
    func hostileSettings(text: String, message: String) {
        #expect(errors(text) == [message])
    }

    /// The largest values that are accepted load, and every place that shows them formats them.
    @Test func extremesThatAreAcceptedAreShownWithoutTrapping() throws {
        let config = try ConfigLoader.load([(name: "test.toml", text: """
            min_kill_size = "15000P"
            post_action_delay = "2562047h"
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            usage_above = 9223372036854775807
            for = "2562047h"
            [[guard.trigger]]
            usage_of_limit = 4.5e17
            limit = "high"
            [[guard.trigger]]
            events_per_second_above = 1e21
            [[guard.trigger]]
            node_available_below = "100%"
            """)])
        let guarded = try #require(config.guards.first)
        #expect(guarded.minKillSize == 15000 << 50)
        #expect(guarded.postActionDelay == Duration.nanoseconds(2_562_047 * 3_600_000_000_000))
        #expect(guarded.triggers.map(\.description) == [
            "usage >= 8.0E for 2562047h",
            "usage >= 4.5e+17% of memory.high",
            "memory.events max rising >= 1e+21/s",
            "node MemAvailable <= 100%",
        ])
        #expect(Amount.percent(.percent(100)).bytes(of: .max) == .max)
        #expect(Amount.percent(.percent(50)).bytes(of: .max) == 1 << 63)
        #expect(Amount.percent(.percent(0)).bytes(of: .max) == 0)
    }

    @Test func timeSpansSaturateInsteadOfTrapping() {
        #expect(Duration.seconds(saturating: .infinity) == Duration.maximum)
        #expect(Duration.seconds(saturating: 1e300) == Duration.maximum)
        #expect(Duration.seconds(saturating: -1) == .zero)
        #expect(Duration.seconds(saturating: .nan) == .zero)
        #expect(Duration.milliseconds(saturating: .max) == Duration.maximum)
        #expect(Duration.milliseconds(saturating: 1500) == .seconds(saturating: 1.5))
        #expect(Duration.maximum.nanosecondsClamped == UInt64(Int64.max))
        #expect(Duration.maximum.text == "9223372036.9s")
        #expect(Duration.nanoseconds(UInt64.max).text == "18446744073.7s")
        #expect(Duration.parsing("2562047h") == .success(Duration.nanoseconds(2_562_047 * 3_600_000_000_000)))
        #expect(Duration.parsing("2562048h") == .failure(.tooLarge))
        #expect(Duration.parsing("9223372036854775807ns") == .failure(.malformed))
    }

    @Test func quantitiesTellTooLargeFromMalformed() {
        #expect(Quantities.sizing("15000P") == .success(15000 << 50))
        #expect(Quantities.sizing("18446744073709551615") == .success(.max))
        #expect(Quantities.sizing("18446744073709551616") == .failure(.tooLarge))
        #expect(Quantities.sizing("16000P") == .failure(.tooLarge))
        #expect(Quantities.sizing("1.5.5G") == .failure(.malformed))
        #expect(Percent.parsing(ConfigNumberTests.nines400 + "%") == .failure(.tooLarge))
        #expect(Percent.parsing("1e2%") == .failure(.malformed))
        #expect(Percent.parsing("12.5%") == .success(.percent(12.5)))
    }
}

@Suite struct ConfigBytesTests {
    @Test func illFormedUTF8IsAnErrorWithItsPlace() {
        let bytes = Array("protect = [\"/a\"]\n[[guard]]\nname = \"caf".utf8) + [0xC3] + Array("\"\n".utf8)
        do {
            _ = try ConfigLoader.load([(name: "test.toml", bytes: bytes)])
            Issue.record("accepted")
        } catch {
            #expect(error.errors.map(\.description) == ["test.toml:3:12: invalid UTF-8: byte 0xC3 does not start a well-formed character"])
        }
    }

    @Test func bytesAndTextLoadTheSame() throws {
        let text = "[[guard]]\nname = \"café\"\nmatch = \"/a\"\n[[guard.trigger]]\noom_kill = true\n"
        let fromBytes = try ConfigLoader.load([(name: "test.toml", bytes: Array(text.utf8))])
        #expect(fromBytes == (try ConfigLoader.load([(name: "test.toml", text: text)])))
        #expect(fromBytes.guards.map(\.name) == ["café"])
    }
}
