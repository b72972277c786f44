import Testing
import CGWardenCore
@testable import CGWardenPolicy

@Suite struct HookConfigTests {
    func errors(_ text: String) -> [String] {
        do {
            _ = try ConfigLoader.load([(name: "h.toml", text: text)])
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func hooksAreReadWithTheirEventsAndTimeout() throws {
        let c = try ConfigLoader.load([(name: "h.toml", text: """
            [daemon]
            max_running_hooks = 2
            [[hook]]
            name = "page"
            command = ["/usr/local/bin/page", "--team", "node"]
            events = ["kill", "oom"]
            timeout = "3s"
            [[hook]]
            name = "log"
            command = ["/usr/bin/logger"]
            """)])
        #expect(c.daemon.maximumRunningHooks == 2)
        #expect(c.hooks.map(\.name) == ["page", "log"])
        #expect(c.hooks[0].command == ["/usr/local/bin/page", "--team", "node"])
        #expect(c.hooks[0].events == ["kill", "oom"])
        #expect(c.hooks[0].timeout == .seconds(3))
        #expect(c.hooks[0].origin.line == 3)
        #expect(c.hooks[1].events == ["kill"])
        #expect(c.hooks[1].timeout == .seconds(10))
    }

    @Test func aDropInReplacesAHookOfTheSameName() throws {
        let c = try ConfigLoader.load([
            (name: "a.toml", text: "[[hook]]\nname = \"page\"\ncommand = [\"/bin/a\"]\n"),
            (name: "b.toml", text: "[[hook]]\nname = \"page\"\ncommand = [\"/bin/b\"]\nevents = \"oom\"\n"),
        ])
        #expect(c.hooks.count == 1)
        #expect(c.hooks[0].command == ["/bin/b"])
        #expect(c.hooks[0].events == ["oom"])
        #expect(c.hooks[0].origin.file == "b.toml")
    }

    @Test(arguments: [
        ("[[hook]]\nname = \"x\"\ncommand = [\"notify\"]\n",
         "h.toml:3:11: hook 'x': command: 'notify' is not an absolute path (no shell runs it, no PATH is searched)"),
        ("[[hook]]\nname = \"x\"\ncommand = \"/bin/true\"\n",
         "h.toml:3:11: hook 'x': command: must be a list of strings: the program's absolute path, then its arguments"),
        ("[[hook]]\nname = \"x\"\n", "h.toml:1:1: hook 'x': needs a command, e.g. [\"/usr/local/bin/notify\", \"--quiet\"]"),
        ("[[hook]]\ncommand = [\"/bin/true\"]\n", "h.toml:1:1: hook: needs a name"),
        ("[[hook]]\nname = \"x\"\ncommand = [\"/bin/true\"]\nevents = [\"hook_failed\"]\n",
         "h.toml:4:10: hook 'x': events: a hook cannot run on hook failures (it could run itself without end)"),
        ("[[hook]]\nname = \"x\"\ncommand = [\"/bin/true\"]\ntimeout = \"20m\"\n",
         "h.toml:4:11: hook 'x': timeout: must be between 100ms and 10m"),
        ("[[hook]]\nname = \"x\"\ncommand = [\"/bin/true\"]\nshell = true\n",
         "h.toml:4:1: hook 'x': shell: unknown key (known here: name, command, events, timeout)"),
        ("[daemon]\nmax_running_hooks = 0\n", "h.toml:2:21: daemon.max_running_hooks: must be a whole number from 1 to 64"),
        ("[[hook]]\nname = \"x\"\ncommand = [\"/bin/a\"]\n[[hook]]\nname = \"x\"\ncommand = [\"/bin/b\"]\n",
         "h.toml:4:1: hook 'x': a second hook with this name (the first is at line 1)"),
        ("hook = 3\n", "h.toml:1:8: hook: hooks are written as [[hook]] tables"),
    ])
    func badHooksAreNamedByFileLineAndKey(text: String, expected: String) {
        #expect(errors(text) == [expected])
    }

    @Test func anUnknownEventKindListsTheKnownOnes() {
        let e = errors("[[hook]]\nname = \"x\"\ncommand = [\"/bin/true\"]\nevents = [\"kil\"]\n")
        #expect(e.count == 1)
        #expect(e.first?.hasPrefix("h.toml:4:10: hook 'x': events: 'kil' is not an event kind (") == true)
        #expect(e.first?.contains("kill") == true)
    }
}
