import Testing
@testable import CGWardenCommands
import CGWardenTestSupport

/// `check-config` on the fuzz seed of hostile numbers: every value is reported with its place,
/// and the command ends (it used to trap on 1e308, inf and 20-digit percentages).
@Suite struct CheckConfigNumberTests {
    @Test func hostileNumbersAreErrorsNotTraps() {
        let path = repositoryRoot() + "/Tests/Fuzz/Corpus/toml/config-hostile-numbers.toml"
        let result = runCLI(["check-config", path])
        #expect(result.code != 0)
        let never = "can never be reached"
        #expect(result.err.split(separator: "\n").map { $0.split(separator: path, omittingEmptySubsequences: false).joined(separator: "F") } == [
            "F:4:17: guard 'numbers': min_kill_size: '99999999999999999999G' is too large (a size is a 64-bit count of bytes)",
            "F:5:21: guard 'numbers': post_action_delay: '1e400s' is not a duration (write e.g. \"500ms\", \"10s\", \"5m\")",
            "F:7:20: guard 'numbers' trigger 1: usage_of_limit: 1e+308% \(never) (memory.current is a 64-bit count of bytes, memory.high at least one 4 KiB page)",
            "F:10:29: guard 'numbers' trigger 2: events_per_second_above: must be a finite number, not inf",
            "F:12:20: guard 'numbers' trigger 3: pressure_above: 99999999999999999999% \(never) (PSI is a share of time)",
            "F:14:26: guard 'numbers' trigger 4: node_available_below: must be a size like \"512M\", not a float",
            "F:16:17: guard 'numbers' trigger 5: usage_above: must be 0 or more",
            "F:17:9: guard 'numbers' trigger 5: for: '18446744073709551616h' is too long (at most 2562047h, about 292 years: durations are signed 64-bit nanoseconds)",
            "cgwarden: the configuration has 8 errors",
        ])
    }
}
