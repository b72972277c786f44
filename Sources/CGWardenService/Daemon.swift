#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
import CGWardenCore
import CGWardenEndpoint
import CGWardenIO
import CGWardenPolicy
import CGWardenSandbox
import CGWardenStore
import CGWardenSystem

/// How `cgwarden run` starts: the configuration, then, as root, what must
/// happen before the drop (the helper, the OOM score, locked memory, the
/// node's PSI triggers, /dev/kmsg, the recordings' directory), the drop,
/// and the guard's loop.
public enum Daemon {
    public struct Options: Sendable {
        public var root: String
        public var proc: String
        public var dryRun: Bool
        /// Woken by PSI triggers and inotify as well as the timer (off: the
        /// timer only, at the configured interval; for side-by-side benchmarks).
        public var kernelWakeups = true
        /// Drop the pages of the start after the first snapshot (`DaemonTunables.dropStartupPages`).
        public var dropStartupPages = true
        /// The kubelet's pod log directory, for pod names in events (nil: none).
        public var podLogs: String? = "/var/log/pods"
        /// Where the event store (`events.db`) and the flight recordings
        /// (`recordings/`) go; nil: neither.
        public var stateDirectory: String?
        /// Record events in the store under `stateDirectory` (`--no-store`: off).
        public var eventStore = true
        public var storeTunables = StoreTunables()
        /// The kernel log the OOM killer writes to.
        public var kernelLog = "/dev/kmsg"
        public init(root: String = "/sys/fs/cgroup", proc: String = "/proc", dryRun: Bool = false,
                    stateDirectory: String? = Daemon.defaultStateDirectory) {
            self.root = root
            self.proc = proc
            self.dryRun = dryRun
            self.stateDirectory = stateDirectory
        }
    }

    /// The unit's `StateDirectory=cgwarden`.
    public static let defaultStateDirectory = "/var/lib/cgwarden"

    /// The most memory the guard may lock (RLIMIT_MEMLOCK, set as root before
    /// mlockall): far above its working set (about 10 MiB at 1,000 groups,
    /// 30 MiB at 10,000), low enough that a leak fails instead of eating the node.
    public static let lockedMemoryLimit: UInt64 = 256 << 20

    /// Starts and runs the guard; the exit status. `log` gets the lines of
    /// the start (before the journal sink is in place, and its failures).
    public static func run(config: Config, options: Options, reload: @escaping () throws -> Config,
                           sink: EventSink, notifier: ServiceNotifier, log: (String) -> Void) -> Int32 {
        let signals: SignalSource
        do {
            // Before any thread exists: the kill worker inherits the blocked mask.
            signals = try SignalSource([SIGHUP, SIGTERM, SIGINT])
        } catch {
            log("cannot take signals: \(error)")
            return 1
        }
        ProcessLimits.raiseDescriptorLimit()
        var locked = false
        ProcessLimits.singleMallocArena()
        do { try ProcessLimits.disableTransparentHugePages() } catch { log("warning: transparent huge pages stay on: \(error)") }
        if geteuid() == 0 {
            do { try ProcessLimits.setOOMScoreAdjust(-1000) } catch { log("warning: oom_score_adj -1000: \(error)") }
            do {
                try ProcessLimits.lockMemory(limit: lockedMemoryLimit)
                locked = true
            } catch {
                log("warning: mlockall: \(error)")
            }
        }
        // The state directory (Docs/daemon.md): its subdirectories given to
        // the daemon's user while root; the store and the recordings are
        // written by that user after the drop.
        var recordings: FlightRecordings?
        var store: StoreSink?
        var sink = sink
        if let dir = options.stateDirectory {
            let owner = geteuid() == 0 ? (try? Privileges.dropTarget(user: config.daemon.user, group: config.daemon.group,
                                                                     allowShared: config.daemon.allowSharedUser)).map { ($0.uid, $0.gid) } : nil
            do { try StateDirectory.prepare(dir, owner: owner) } catch { log("warning: state directory \(dir): \(error)") }
            if config.events.flightRecorder > .zero, config.events.flightRecorderMaxSize > 0 {
                recordings = FlightRecordings(directory: StateDirectory.recordingsDirectory(dir),
                                              window: config.events.flightRecorder, maxBytes: config.events.flightRecorderMaxSize)
            }
            if options.eventStore {
                let outer = EventFanOut([sink])
                do {
                    let s = try StoreSink(directory: StateDirectory.storeDirectory(dir), retention: config.events.retention,
                                          maxSize: config.events.maxSize, tunables: options.storeTunables, report: { outer.record($0) })
                    if options.dropStartupPages {
                        // Only a library of its own: linked into the executable,
                        // SQLite's pages are the guard's own code's neighbours.
                        do {
                            let pages = try LibraryPages(containing: SQLiteDatabase.libraryAddress, locked: locked)
                            if !pages.object.isEmpty { s.libraryPages = pages }
                        } catch {
                            log("warning: SQLite's pages stay resident: \(error)")
                        }
                    }
                    store = s
                    sink = EventFanOut([outer, s])
                } catch {
                    log("warning: no event store: \(error)")
                }
            }
        }
        // The metrics socket is bound as root, before the drop: a port below
        // 1024 or a path under a root-owned /run directory stay usable after it.
        var metrics: (listener: Int32, recorder: MetricsRecorder)?
        if let listen = config.metrics.listen {
            do {
                metrics = (try MetricsListener.bind(listen),
                           MetricsRecorder(config: config, startedMonotonic: SystemClock().now().monotonicNanos))
            } catch {
                log("metrics.listen \(listen): \(error)")
                return 1
            }
        }
        let reloading: () throws -> Config = { [store] in
            let next = try reload()
            store?.update(retention: next.events.retention, maxSize: next.events.maxSize)
            return next
        }
        var configuration = KillHelperClient.Configuration()
        configuration.settings = KillHelperProcess.Settings(root: options.root, protected: config.protect)
        let drop = PrivilegedStart.Drop(user: config.daemon.user, group: config.daemon.group,
                                        allowShared: config.daemon.allowSharedUser)
        var guardian: GuardDaemon?
        do {
            _ = try PrivilegedStart.start(configuration, drop: drop) { client in
                do {
                    let killer = try HelperKiller(client: client)
                    var tunables = DaemonTunables()
                    tunables.kernelWakeups = options.kernelWakeups
                    tunables.dropStartupPages = options.dropStartupPages
                    // /dev/kmsg needs CAP_SYSLOG under kernel.dmesg_restrict: opened before the drop.
                    var kernelLog: KernelLog?
                    do { kernelLog = try KernelLog(path: options.kernelLog) } catch {
                        log("warning: the kernel's OOM reports will not be read (which task it killed, and its size): \(error)")
                    }
                    // Hooks get every event; their own failures go to the other sinks.
                    let recorder = metrics?.recorder
                    let hooks = HookRunner(hooks: config.hooks, maximumRunning: config.daemon.maximumRunningHooks,
                                           clock: SystemClock(), failures: { sink.record($0); recorder?.record($0) })
                    let sinks: [EventSink] = [sink, hooks] + (recorder.map { [$0] } ?? [])
                    let daemon = GuardDaemon(config: config, source: SnapshotSource(root: options.root, proc: options.proc, fields: .daemon,
                                                                                             podLogs: options.podLogs),
                                             killer: killer, sink: EventSinks(sinks), notifier: notifier,
                                             tunables: tunables, dryRun: options.dryRun, signals: signals,
                                             hooks: hooks, metrics: recorder, reload: reloading, kernelLog: kernelLog,
                                             recordings: recordings)
                    if options.kernelWakeups { daemon.armNodeTriggers(proc: options.proc) }
                    guardian = daemon
                } catch {
                    log("cannot start the kill worker: \(error)")
                }
            }
        } catch {
            log("\(error)")
            return 1
        }
        guard let guardian else {
            store?.close()
            return 1
        }
        // Its thread starts after the drop: it never runs as root.
        var endpoint: HTTPEndpoint?
        if let metrics {
            do {
                endpoint = try HTTPEndpoint(listener: metrics.listener, responder: MetricsResponder(board: metrics.recorder.board))
            } catch {
                log("cannot start the metrics endpoint: \(error)")
                guardian.killer.shutdown()
                store?.close()
                return 1
            }
        }
        do { try store?.start() } catch { log("warning: no event store: \(error)") }
        let status = guardian.run()
        // The store's last commit runs while the helper shuts down, not after it.
        store?.beginClose()
        endpoint?.stop()
        guardian.killer.shutdown()
        if let store {
            let left = store.close()
            if left > 0 { log("\(left) event\(left == 1 ? " was" : "s were") not recorded in \(store.path)") }
        }
        return status
    }
}
