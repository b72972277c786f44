import Testing
import CGWardenCore
@testable import CGWardenCommands

/// What the Debian package takes from the binary (scripts/package): its
/// version, and the completion scripts it ships.
@Suite struct PackagingCommandTests {
    @Test func versionIsTheOneConstant() {
        let r = runCLI(["--version"])
        #expect(r.code == 0)
        #expect(r.out == CGWardenVersion.string + "\n")
        #expect(r.err == "")
        // A Debian upstream version: starts with a digit, no '-' (that is the revision's).
        #expect(CGWardenVersion.string.first?.isNumber == true)
        #expect(!CGWardenVersion.string.contains("-"))
    }

    @Test(arguments: [("bash", "complete -o filenames -F _cgwarden cgwarden"), ("zsh", "#compdef cgwarden"),
                       ("fish", "complete -c 'cgwarden'")])
    func completionScripts(shell: String, marker: String) {
        let r = runCLI(["--generate-completion-script", shell])
        #expect(r.code == 0)
        #expect(r.out.contains(marker))
        // Every subcommand an operator types is completed.
        for sub in ["status", "run", "explain", "record", "check-config", "kill"] {
            #expect(r.out.contains(sub), "\(shell) completion lacks \(sub)")
        }
        // The helper cgwarden spawns itself is no operator's command.
        #expect(!r.out.contains("kill-helper"))
    }
}
