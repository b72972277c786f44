#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSandbox
import CGWardenSystem

/// The two privileged processes of the kill path, as `cgwarden kill-helper`
/// runs them: the helper itself, and the launcher that spawns helpers for an
/// unprivileged side that can no longer spawn privileged processes itself.
public enum KillHelperProcess {
    /// What a helper is spawned with, by the trusted side, before any
    /// privilege is dropped. No request can change it.
    public struct Settings: Equatable, Sendable {
        /// The cgroup v2 mount (or a fixture tree, for dry runs and tests).
        public var root: String
        /// Groups never killed, nor any group above them.
        public var protected: [CgroupPattern]

        public init(root: String = "/sys/fs/cgroup", protected: [CgroupPattern] = []) {
            self.root = root
            self.protected = protected
        }

        /// argv[1...] of `cgwarden kill-helper`.
        public func arguments(launcher: Bool) -> [String] {
            ["kill-helper", "--root", root] + protected.flatMap { ["--protect", $0.text] } + (launcher ? ["--launcher"] : [])
        }
    }

    /// Set to 1 in the environment of the process that spawns helpers (and
    /// so in theirs) to let them honour `testForbiddenSyscall`. Read once,
    /// at the helper's start; a normal run never sets it (Docs/security.md).
    public static let testHooksVariable = "CGWARDEN_HELPER_TEST_HOOKS"

    /// The environment a helper gets: no more than `HelperProcess.defaultEnvironment`,
    /// plus the test hooks when this process has them.
    public static var helperEnvironment: [String] {
        HelperProcess.defaultEnvironment + (testHooksRequested ? ["\(testHooksVariable)=1"] : [])
    }

    static var testHooksRequested: Bool {
        getenv(testHooksVariable).map { String(cString: $0) } == "1"
    }

    // MARK: the helper

    /// Sets up, confines itself, and serves requests on fd 3 until the other
    /// end closes it. Setup failures are one line on stderr and exit 1.
    public static func runHelper(_ settings: Settings) -> Never {
        let channel: PacketChannel
        do { channel = try PacketChannel.inherited() } catch { fail("kill-helper", "\(error) (run by cgwarden itself, not by hand)") }
        let root: Int32
        do { root = try openPathDirectory(settings.root) } catch { fail("kill-helper", "cannot open the cgroup root: \(error)") }
        let rootIsCgroup2 = (try? Files.fileSystemType(root)) == FileSystemMagic.cgroup2
        let fs = LinuxHelperFileSystem()
        let own = OwnCgroupSearch.locate(pid: getpid(), root: root, fs: fs)
        let info = HelperInfo(pid: getpid(), seccomp: true, rootIsCgroup2: rootIsCgroup2,
                              testHooks: testHooksRequested, own: own)
        let executor = KillExecutor(fs: fs, signaller: LinuxSignaller(), clock: SystemClock())
        let server = HelperServer(root: root, rules: KillRules(protected: settings.protected, own: own),
                                  info: info, fs: fs, executor: executor, forbidden: { _ = getppid() })
        warmUp()
        do {
            try ProcessHardening.disableCoreDumps()
            try HelperAllowList.filter().install()
        } catch {
            fail("kill-helper", "cannot confine the helper: \(error)")
        }
        // From here on, only the allow-list.
        while true {
            var reply: [UInt8]
            var descriptor: Int32?
            do {
                guard let packet = try channel.receive(maximumSize: HelperWire.maxRequestSize) else { exit(0) }
                (reply, descriptor) = server.handle(packet)
            } catch .messageTooLarge(let size) {
                reply = HelperReply.error(WireError(.oversize, "request of \(size) bytes (at most \(HelperWire.maxRequestSize))"))
                    .encoded(requestID: 0)
            } catch {
                exit(2)
            }
            do { try channel.send(reply, passing: descriptor) } catch { exit(0) }
            if let descriptor { Files.close(descriptor) }
        }
    }

    /// What the Swift runtime and libc do once, lazily, and would do after
    /// the filter otherwise: seeding the hasher (getrandom), the first
    /// dictionary, string and integer formatting.
    static func warmUp() {
        var h = Hasher()
        h.combine(1)
        _ = h.finalize()
        var d: [String: String] = [:]
        d["a"] = String(42)
        _ = d.count
    }

    // MARK: the launcher

    /// The launcher's bound on spawning: the unprivileged side asks for a new
    /// helper when one died or stopped answering; a compromised side asking
    /// in a loop gets at most one helper per interval, and only one at a time.
    public static let minimumSpawnIntervalMillis: Int64 = 100

    /// Serves spawn requests on fd 3: each ends the current helper (SIGKILL,
    /// reaped: its end is reported) and spawns a new one with the settings
    /// given on the launcher's own command line, whose channel is passed back
    /// as SCM_RIGHTS. Ends when the other side closes its end.
    public static func runLauncher(_ settings: Settings) -> Never {
        let control: PacketChannel
        do { control = try PacketChannel.inherited() } catch { fail("kill-helper --launcher", "\(error) (run by cgwarden itself)") }
        do {
            try ProcessHardening.disableCoreDumps()
            try ProcessHardening.setNoNewPrivileges()
        } catch {
            fail("kill-helper --launcher", "\(error)")
        }
        let arguments = settings.arguments(launcher: false)
        let environment = helperEnvironment
        var current: HelperProcess?
        let clock = SystemClock()
        var lastSpawn: UInt64 = 0
        while true {
            let message: [UInt8]
            do {
                guard let m = try control.receive(maximumSize: 64) else { break }
                message = m
            } catch .messageTooLarge {
                message = []
            } catch {
                break
            }
            guard LauncherWire.isSpawnRequest(message) else {
                let r = LauncherWire.Reply(result: .failure(.init(errno: EINVAL)), previous: nil)
                if (try? control.send(LauncherWire.encode(r))) == nil { break }
                continue
            }
            let previous = current?.end()
            current = nil
            clock.sleep(until: lastSpawn.addingSaturated(UInt64(minimumSpawnIntervalMillis) * 1_000_000))
            lastSpawn = clock.now().monotonicNanos
            do {
                let h = try HelperProcess(arguments: arguments, environment: environment)
                let r = LauncherWire.Reply(result: .success(h.pid), previous: previous)
                try control.send(LauncherWire.encode(r), passing: h.channel.descriptor)
                h.channel.close()   // the other side's now: the helper sees EOF when that side closes it
                current = h
            } catch {
                let e: Int32
                if case .system(let s) = error { e = s.errno } else { e = EIO }
                let r = LauncherWire.Reply(result: .failure(.init(errno: e)), previous: previous)
                if (try? control.send(LauncherWire.encode(r))) == nil { break }
            }
        }
        // The other side is gone: its helper sees end-of-file and leaves.
        // Long enough for a kill in flight to finish (the daemon waits at most
        // 10 s for populated 0): ending the helper mid-fallback could leave a
        // group frozen.
        current?.end(grace: .seconds(15))
        exit(0)
    }

    static func fail(_ who: String, _ message: String) -> Never {
        let line = "cgwarden \(who): \(message)\n"
        _ = try? Files.write(2, Array(line.utf8))
        exit(1)
    }
}
