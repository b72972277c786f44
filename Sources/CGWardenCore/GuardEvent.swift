/// Something the guard did or saw, as it is logged (journal, stderr) and
/// recorded: a kill, a refusal, a would-be kill of an observing guard, a
/// helper restart, a reload. A value, made at the edge that saw it.
public struct GuardEvent: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// cgwarden killed a group (it is empty).
        case kill
        /// cgwarden killed a group that did not empty in time.
        case incomplete
        /// The helper refused the kill (the group vanished, was re-created,
        /// became protected...): the next candidate is tried.
        case refused
        /// The kill could not be done (the helper failed).
        case failed
        /// An observing guard (or a dry run) would have killed this group.
        case observed
        case helperRestarted = "helper_restarted"
        case started
        case reloaded
        case reloadFailed = "reload_failed"
        case stopping
        /// Something could not be read.
        case problem
        /// The kernel's OOM killer acted inside a group (`oom`, `oom_kill`,
        /// `oom_group_kill` of memory.events rose), with the task it killed
        /// when /dev/kmsg told.
        case oom
        /// A burst of `max` events: the group hit its memory.max.
        case max
        /// A burst of `high` events: the group was throttled at its memory.high.
        case high
        /// A hook (a command run after an event) failed or timed out.
        case hookFailed = "hook_failed"

        /// Who acted: the kernel for what memory.events and /dev/kmsg tell, cgwarden otherwise.
        public var actor: String {
            switch self {
            case .oom, .max, .high: return "kernel"
            default: return "cgwarden"
            }
        }

        /// A fixed id per kind for the journal (`MESSAGE_ID=`), so that
        /// `journalctl MESSAGE_ID=...` lists every kill.
        public var messageID: String {
            switch self {
            case .kill: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a91"
            case .incomplete: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a92"
            case .refused: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a93"
            case .failed: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a94"
            case .observed: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a95"
            case .helperRestarted: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a96"
            case .started: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a97"
            case .reloaded: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a98"
            case .reloadFailed: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a99"
            case .stopping: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9a"
            case .problem: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9b"
            case .oom: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9c"
            case .max: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9d"
            case .high: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9e"
            case .hookFailed: return "6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9f"
            }
        }

        /// syslog priority: a kill is a warning, a failure an error.
        public var priority: Int {
            switch self {
            case .failed, .reloadFailed: return 3
            case .kill, .incomplete, .refused, .problem, .oom, .hookFailed: return 4
            case .observed, .helperRestarted, .max: return 5
            case .started, .reloaded, .stopping, .high: return 6
            }
        }
    }

    public var kind: Kind
    public var time: Timestamp
    public var guardName: String?
    public var cgroup: CgroupPath?
    public var cgroupID: UInt64?
    /// The trigger that fired, and what it measured.
    public var trigger: String?
    public var measured: String?
    /// Why: the decision's reason, the refusal or the failure.
    public var reason: String?
    /// `cgroup.kill`, `freeze+SIGKILL`.
    public var method: String?
    public var memoryBefore: UInt64?
    public var memoryAfter: UInt64?
    /// Processes in the group when it was chosen (its subtree).
    public var processes: UInt64?
    public var durationNanos: UInt64?
    /// Counters that rose since the group's previous snapshot (`oom_kill` +1,
    /// `max` +61), for the kernel's kinds.
    public var counters: [CounterDelta] = []

    public struct CounterDelta: Equatable, Sendable {
        public var name: String
        public var delta: UInt64
        public init(_ name: String, _ delta: UInt64) {
            self.name = name
            self.delta = delta
        }
    }
    /// The task the kernel's OOM killer took, from /dev/kmsg.
    public var task: KilledTask?
    /// The ranked candidates of the decision (a kill, a refusal, an observation).
    public var candidates: [EventCandidate] = []
    /// The flight recording written beside this event (a kill), for `explain --replay`.
    public var recording: String?
    /// The pod the group is or belongs to, named where the kubelet's log
    /// directories tell (`Snapshot.podLabels(for:)`); nil outside pods and
    /// for events made without a snapshot (the UID then comes from the path).
    public var pod: PodLabels?

    /// A task the kernel's OOM killer took, as its two /dev/kmsg lines tell:
    /// `oom-kill:constraint=...,oom_memcg=...,task_memcg=...,task=COMM,pid=PID,uid=UID`
    /// and `Killed process PID (COMM) total-vm:...kB, anon-rss:...kB, file-rss:...kB, shmem-rss:...kB`.
    public struct KilledTask: Equatable, Sendable {
        public var command: String
        public var pid: Int32
        public var uid: UInt32?
        /// `CONSTRAINT_MEMCG` (a group's limit) or `CONSTRAINT_NONE` (the node).
        public var constraint: String?
        /// The group whose limit was hit, and the task's own group (kernel paths).
        public var oomGroup: CgroupPath?
        public var taskGroup: CgroupPath?
        public var anonRSS: UInt64?
        public var fileRSS: UInt64?
        public var shmemRSS: UInt64?

        public init(command: String, pid: Int32, uid: UInt32? = nil, constraint: String? = nil, oomGroup: CgroupPath? = nil,
                    taskGroup: CgroupPath? = nil, anonRSS: UInt64? = nil, fileRSS: UInt64? = nil, shmemRSS: UInt64? = nil) {
            self.command = command
            self.pid = pid
            self.uid = uid
            self.constraint = constraint
            self.oomGroup = oomGroup
            self.taskGroup = taskGroup
            self.anonRSS = anonRSS
            self.fileRSS = fileRSS
            self.shmemRSS = shmemRSS
        }

        /// What it held: anon + file + shmem RSS (saturating).
        public var rss: UInt64? {
            guard anonRSS != nil || fileRSS != nil || shmemRSS != nil else { return nil }
            return (anonRSS ?? 0).addingSaturated(fileRSS ?? 0).addingSaturated(shmemRSS ?? 0)
        }
    }

    /// One candidate of a decision, as an event keeps it.
    public struct EventCandidate: Equatable, Sendable {
        public var path: CgroupPath
        public var id: UInt64
        /// 1 = first in kill order; nil when excluded.
        public var rank: Int?
        /// `usage 61.2M`.
        public var score: String
        /// Why it may not be killed.
        public var excluded: String?

        public init(path: CgroupPath, id: UInt64, rank: Int?, score: String, excluded: String?) {
            self.path = path
            self.id = id
            self.rank = rank
            self.score = score
            self.excluded = excluded
        }
    }

    public init(kind: Kind, time: Timestamp, guardName: String? = nil, cgroup: CgroupPath? = nil, cgroupID: UInt64? = nil,
                trigger: String? = nil, measured: String? = nil, reason: String? = nil, method: String? = nil,
                memoryBefore: UInt64? = nil, memoryAfter: UInt64? = nil, processes: UInt64? = nil,
                durationNanos: UInt64? = nil) {
        self.kind = kind
        self.time = time
        self.guardName = guardName
        self.cgroup = cgroup
        self.cgroupID = cgroupID
        self.trigger = trigger
        self.measured = measured
        self.reason = reason
        self.method = method
        self.memoryBefore = memoryBefore
        self.memoryAfter = memoryAfter
        self.processes = processes
        self.durationNanos = durationNanos
    }

    /// Memory the kill gave back, where both figures are known.
    public var memoryFreed: UInt64? {
        guard let b = memoryBefore, let a = memoryAfter else { return nil }
        return b > a ? b - a : 0
    }

    /// One line for a human (names escaped).
    public var message: String {
        let g = guardName.map { "guard '\($0)': " } ?? ""
        let what = (cgroup.map { "\($0)" } ?? "") + (pod?.qualifiedName.map { " (pod \($0))" } ?? "")
        let why = reason.map { ": \($0)" } ?? ""
        switch kind {
        case .kill:
            let freed = memoryFreed.map { ", freed \(Units.size($0))" } ?? ""
            let took = durationNanos.map { " in \(Units.decimal(Double($0) / 1e6, decimals: 1)) ms" } ?? ""
            return "\(g)killed \(what)\(took) via \(method ?? "?")\(freed)\(why)"
        case .incomplete: return "\(g)killed \(what) but it is still populated\(why)"
        case .refused: return "\(g)the helper refused to kill \(what)\(why)"
        case .failed: return "\(g)could not kill \(what)\(why)"
        case .observed: return "\(g)would kill \(what) (observe only)\(why)"
        case .helperRestarted: return "the kill helper was restarted\(why)"
        case .started: return "guarding\(why)"
        case .reloaded: return "configuration reloaded\(why)"
        case .reloadFailed: return "configuration not reloaded, the previous one stays\(why)"
        case .stopping: return "stopping\(why)"
        case .problem: return "\(what.isEmpty ? "" : what + ": ")\(reason ?? "")"
        case .oom, .max, .high:
            let rose = counters.map { "\($0.name) +\($0.delta)" }.joined(separator: ", ")
            var s = "the kernel: \(rose.isEmpty ? kind.rawValue : rose) in \(what)"
            if let t = task {
                s += "; killed \(PathText.escape(t.command)) (pid \(t.pid))"
                if let rss = t.rss { s += ", \(Units.size(rss)) resident" }
            }
            return s
        case .hookFailed: return "hook failed\(why)"
        }
    }

    /// journald fields (without MESSAGE/PRIORITY/MESSAGE_ID, which the sink adds).
    public var fields: [(String, String)] {
        var f: [(String, String)] = [("CGWARDEN_EVENT", kind.rawValue)]
        if let guardName { f.append(("CGWARDEN_GUARD", guardName)) }
        if let cgroup {
            f.append(("CGWARDEN_CGROUP", cgroup.description))
            let identity = GroupIdentity(path: cgroup)
            if let unit = identity.unit { f.append(("CGWARDEN_UNIT", unit)) }
            if let pod = pod?.uid ?? identity.kubernetes?.podUID { f.append(("CGWARDEN_POD_UID", pod)) }
        }
        if let name = pod?.name {
            f.append(("CGWARDEN_POD", name.description))
            f.append(("CGWARDEN_POD_NAMESPACE", name.namespaceText))
        }
        if let cgroupID { f.append(("CGWARDEN_CGROUP_ID", String(cgroupID))) }
        if let trigger { f.append(("CGWARDEN_TRIGGER", trigger)) }
        if let measured { f.append(("CGWARDEN_MEASURED", measured)) }
        f.append(("CGWARDEN_RESULT", kind.rawValue))
        if let reason { f.append(("CGWARDEN_REASON", reason)) }
        if let method { f.append(("CGWARDEN_METHOD", method)) }
        if let memoryBefore { f.append(("CGWARDEN_MEMORY_BEFORE", String(memoryBefore))) }
        if let memoryFreed { f.append(("CGWARDEN_MEMORY_FREED", String(memoryFreed))) }
        if let processes { f.append(("CGWARDEN_PROCESSES", String(processes))) }
        if let durationNanos { f.append(("CGWARDEN_DURATION_NS", String(durationNanos))) }
        for c in counters { f.append(("CGWARDEN_" + c.name.uppercased(), String(c.delta))) }
        if let t = task {
            f.append(("CGWARDEN_TASK", t.command))
            f.append(("CGWARDEN_TASK_PID", String(t.pid)))
            if let rss = t.rss { f.append(("CGWARDEN_TASK_RSS", String(rss))) }
        }
        if let recording { f.append(("CGWARDEN_RECORDING", recording)) }
        return f
    }

    public var json: JSON {
        .object([
            ("kind", .string(kind.rawValue)), ("time_ns", .uint(time.wallNanos)), ("monotonic_ns", .uint(time.monotonicNanos)),
            ("guard", .string(guardName)), ("cgroup", .string(cgroup?.description)), ("id", .number(cgroupID)),
            ("pod_uid", .string(pod?.uid ?? cgroup.flatMap { KubernetesIdentity(path: $0)?.podUID })),
            ("pod_namespace", .string(pod?.namespace)), ("pod_name", .string(pod?.podName)),
            ("trigger", .string(trigger)), ("measured", .string(measured)), ("reason", .string(reason)),
            ("method", .string(method)), ("memory_before", .number(memoryBefore)), ("memory_after", .number(memoryAfter)),
            ("processes", .number(processes)), ("duration_ns", .number(durationNanos)),
            ("actor", .string(kind.actor)),
            ("counters", .object(counters.map { ($0.name, JSON.uint($0.delta)) })),
            ("task", task.map { t in
                JSON.object([("command", .string(t.command)), ("pid", .int(Int64(t.pid))),
                             ("uid", t.uid.map { .uint(UInt64($0)) } ?? .null), ("constraint", .string(t.constraint)),
                             ("oom_memcg", .string(t.oomGroup?.description)), ("task_memcg", .string(t.taskGroup?.description)),
                             ("anon_rss", .number(t.anonRSS)), ("file_rss", .number(t.fileRSS)), ("shmem_rss", .number(t.shmemRSS))])
            } ?? .null),
            ("candidates", .array(candidates.map { c in
                .object([("path", .string(c.path.description)), ("id", .uint(c.id)), ("rank", .number(c.rank)),
                         ("score", .string(c.score)), ("excluded", .string(c.excluded))])
            })),
            ("recording", .string(recording)),
        ])
    }
}
