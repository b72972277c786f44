#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// Why the store could not be opened or used.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case sqlite(SQLiteError)
    /// Written by a newer cgwarden: read-only only.
    case newer(path: String, found: Int, known: Int)
    /// Not there (`cgwarden run` makes it at its first event).
    case missing(path: String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .sqlite(let e): return "\(e)"
        case .newer(let path, let found, let known):
            return "\(path) has schema version \(found), this cgwarden knows versions up to \(known): it was written by a "
                + "newer cgwarden, and is not changed (read it with that version, or move it aside to start a new store)"
        case .missing(let path):
            return "no event store at \(path) (cgwarden run records its events there; see --state-dir)"
        case .system(let e): return "\(e)"
        }
    }

    /// The SQLite kind, when it is one.
    public var sqliteKind: SQLiteError.Kind? {
        if case .sqlite(let e) = self { return e.kind }
        return nil
    }
}

/// An event as the store keeps it: its id (increasing, never reused) and the event.
public struct StoredEvent: Equatable, Sendable {
    public var id: Int64
    public var event: GuardEvent
    public init(id: Int64, event: GuardEvent) {
        self.id = id
        self.event = event
    }
}

/// What `cgwarden events` asks for. The time bounds and kinds are in SQL;
/// a cgroup pattern is matched on the path's bytes by the caller.
public struct EventQuery: Sendable {
    /// Wall-clock nanoseconds, inclusive.
    public var since: UInt64?
    public var until: UInt64?
    public var kinds: [GuardEvent.Kind] = []
    /// Only events with a greater id (`--follow`).
    public var afterID: Int64?
    /// The newest this many (still returned oldest first).
    public var limit: Int?
    public init(since: UInt64? = nil, until: UInt64? = nil, kinds: [GuardEvent.Kind] = [], afterID: Int64? = nil,
                limit: Int? = nil) {
        self.since = since
        self.until = until
        self.kinds = kinds
        self.afterID = afterID
        self.limit = limit
    }
}

/// What one pruning pass removed.
public struct PruneResult: Equatable, Sendable {
    public var byAge = 0
    public var bySize = 0
    public var transactions = 0
    public init() {}
}

/// The event history: `events.db`, SQLite in WAL mode (the daemon writes,
/// `cgwarden events` reads at the same time), with a schema version and
/// migrations. One instance is one connection: the daemon's writer thread
/// has its own, every reader too.
public final class EventStore {
    public static let fileName = "events.db"

    /// A migration: applied in a transaction of its own, recorded in
    /// `schema_migrations`, and the version written to `PRAGMA user_version`.
    /// Migrations only add (tables, columns, indexes), so that a reader
    /// older than the store still reads the columns it knows.
    struct Migration {
        var version: Int
        var description: String
        var sql: String
    }

    static let migrations: [Migration] = [
        Migration(version: 1, description: "events, with their candidates", sql: """
            CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_ns INTEGER NOT NULL,
                description TEXT NOT NULL);
            CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time_ns INTEGER NOT NULL,
                monotonic_ns INTEGER NOT NULL,
                kind TEXT NOT NULL,
                guard TEXT,
                cgroup BLOB,
                cgroup_id INTEGER,
                trigger TEXT,
                measured TEXT,
                reason TEXT,
                method TEXT,
                memory_before INTEGER,
                memory_after INTEGER,
                processes INTEGER,
                duration_ns INTEGER,
                recording TEXT);
            CREATE INDEX events_time ON events(time_ns);
            CREATE INDEX events_cgroup_time ON events(cgroup, time_ns);
            CREATE TABLE candidates (
                event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                path BLOB NOT NULL,
                cgroup_id INTEGER NOT NULL,
                rank INTEGER,
                score TEXT NOT NULL,
                excluded TEXT,
                PRIMARY KEY (event_id, position)) WITHOUT ROWID;
            """),
        Migration(version: 2, description: "the kernel's OOM events: the task /dev/kmsg names, counter deltas", sql: """
            ALTER TABLE events ADD COLUMN task_command TEXT;
            ALTER TABLE events ADD COLUMN task_pid INTEGER;
            ALTER TABLE events ADD COLUMN task_uid INTEGER;
            ALTER TABLE events ADD COLUMN task_constraint TEXT;
            ALTER TABLE events ADD COLUMN task_oom_cgroup BLOB;
            ALTER TABLE events ADD COLUMN task_cgroup BLOB;
            ALTER TABLE events ADD COLUMN task_anon_rss INTEGER;
            ALTER TABLE events ADD COLUMN task_file_rss INTEGER;
            ALTER TABLE events ADD COLUMN task_shmem_rss INTEGER;
            CREATE TABLE counters (
                event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                name TEXT NOT NULL,
                delta INTEGER NOT NULL,
                PRIMARY KEY (event_id, position)) WITHOUT ROWID;
            """),
        Migration(version: 3, description: "the pod a group is or belongs to: its UID, and its namespace and name where known", sql: """
            ALTER TABLE events ADD COLUMN pod_uid TEXT;
            ALTER TABLE events ADD COLUMN pod_namespace BLOB;
            ALTER TABLE events ADD COLUMN pod_name BLOB;
            """),
    ]

    /// The version this cgwarden writes.
    public static var schemaVersion: Int { migrations.last!.version }

    /// The writer's page cache: the daemon's whole budget is 8 MiB of RSS,
    /// and it writes batches it never reads back (SQLite's default is 2 MiB).
    public static let writerCacheKiB = 256
    /// The WAL is checkpointed into the database past this many pages (4 KiB
    /// each): 1 MiB of WAL, against SQLite's default of 4 MiB.
    public static let walCheckpointPages = 256
    /// What a checkpointed WAL is truncated to: its size on disk stays near
    /// the checkpoint size instead of the largest burst ever written.
    public static let walSizeLimit = 1 << 20
    /// How long a connection retries a lock another holds: the writer's
    /// commit then fails (its events stay queued) rather than wait longer.
    public static let busyTimeoutMillis: Int32 = 500
    /// Rows deleted per pruning transaction: each is short (the lock is
    /// held for milliseconds, a reader never waits long), and a crash
    /// in between loses nothing but the rest of the pruning.
    public static let pruneBatch = 500

    public let database: SQLiteDatabase
    public let directory: String
    public var path: String { database.path }
    /// The schema version found (after migration, for a writer).
    public private(set) var version: Int
    let clock: any Clock
    private var insertEvent: SQLiteStatement?
    private var insertCandidate: SQLiteStatement?
    private var insertCounter: SQLiteStatement?

    public static func path(in directory: String) -> String {
        directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
    }

    /// The daemon's connection: creates the store when missing, migrates an
    /// older one (up to `upTo`, for tests of migration), refuses a newer one.
    public static func openForWriting(directory: String, clock: any Clock = SystemClock(),
                                      upTo target: Int = schemaVersion) throws(StoreError) -> EventStore {
        let db: SQLiteDatabase
        do {
            db = try SQLiteDatabase(path: path(in: directory), readOnly: false, create: true)
            db.setBusyTimeout(milliseconds: busyTimeoutMillis)
            // journal_mode=WAL is kept in the file: readers find it set.
            // auto_vacuum first: it can be set only before the file has its first
            // page (a store made by an earlier version keeps what it has).
            // INCREMENTAL: a page freed by pruning goes back to the file system.
            try db.execute("""
                PRAGMA auto_vacuum = INCREMENTAL;
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = FULL;
                PRAGMA foreign_keys = ON;
                PRAGMA temp_store = MEMORY;
                PRAGMA cache_size = -\(writerCacheKiB);
                PRAGMA wal_autocheckpoint = \(walCheckpointPages);
                PRAGMA journal_size_limit = \(walSizeLimit);
                """, as: "set up \(db.path)")
            db.persistWAL()
        } catch {
            throw .sqlite(error)
        }
        let store = EventStore(database: db, directory: directory, version: 0, clock: clock)
        try store.migrate(upTo: target)
        return store
    }

    /// A reader's connection (`cgwarden events`, `status`): never creates,
    /// never migrates; reads an older store by the columns it has and a
    /// newer one by the columns this version knows.
    public static func openForReading(directory: String, clock: any Clock = SystemClock()) throws(StoreError) -> EventStore {
        let file = path(in: directory)
        do {
            _ = try Paths.status(file)
        } catch {
            if error.errno == ENOENT { throw .missing(path: file) }
            throw .system(error)
        }
        do {
            let db = try SQLiteDatabase(path: file, readOnly: true)
            db.setBusyTimeout(milliseconds: 2000)
            let version = Int(try db.integer("PRAGMA user_version") ?? 0)
            return EventStore(database: db, directory: directory, version: version, clock: clock)
        } catch {
            throw .sqlite(error)
        }
    }

    init(database: SQLiteDatabase, directory: String, version: Int, clock: any Clock) {
        self.database = database
        self.directory = directory
        self.version = version
        self.clock = clock
    }

    // MARK: schema

    func migrate(upTo target: Int) throws(StoreError) {
        do {
            let found = Int(try database.integer("PRAGMA user_version") ?? 0)
            guard found <= EventStore.schemaVersion else {
                throw StoreError.newer(path: path, found: found, known: EventStore.schemaVersion)
            }
            version = found
            for m in EventStore.migrations where m.version > found && m.version <= target {
                try database.transaction { () throws(SQLiteError) in
                    try database.execute(m.sql)
                    try database.prepare("INSERT INTO schema_migrations (version, applied_ns, description) VALUES (?1, ?2, ?3)")
                        .run([.integer(Int64(m.version)), .unsigned(clock.now().wallNanos), .text(m.description)])
                    try database.execute("PRAGMA user_version = \(m.version)")
                }
                version = m.version
            }
        } catch let e as StoreError {
            throw e
        } catch let e as SQLiteError {
            throw .sqlite(e)
        } catch {
            fatalError("unreachable: \(error)")
        }
    }

    /// The migrations applied, oldest first: (version, description).
    public func appliedMigrations() throws(StoreError) -> [(version: Int, description: String)] {
        do {
            let s = try database.prepare("SELECT version, description FROM schema_migrations ORDER BY version")
            try s.bind([])
            var out: [(Int, String)] = []
            while try s.step() { out.append((Int(s.int64(0) ?? 0), s.text(1) ?? "")) }
            return out
        } catch {
            throw .sqlite(error)
        }
    }

    /// `PRAGMA quick_check`: "ok", or what is wrong.
    public func quickCheck() throws(SQLiteError) -> String {
        let s = try database.prepare("PRAGMA quick_check(5)")
        try s.bind([])
        var lines: [String] = []
        while try s.step() { lines.append(s.text(0) ?? "") }
        return lines.joined(separator: "; ")
    }

    // MARK: writing

    /// Appends `events` in one transaction; their ids, in order.
    @discardableResult
    public func append(_ events: [GuardEvent]) throws(SQLiteError) -> [Int64] {
        if insertEvent == nil {
            insertEvent = try database.prepare("""
                INSERT INTO events (time_ns, monotonic_ns, kind, guard, cgroup, cgroup_id, trigger, measured, reason, method,
                    memory_before, memory_after, processes, duration_ns, recording, task_command, task_pid, task_uid,
                    task_constraint, task_oom_cgroup, task_cgroup, task_anon_rss, task_file_rss, task_shmem_rss, pod_uid,
                    pod_namespace, pod_name)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,
                    ?25, ?26, ?27)
                """)
            insertCandidate = try database.prepare("""
                INSERT INTO candidates (event_id, position, path, cgroup_id, rank, score, excluded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                """)
            insertCounter = try database.prepare("INSERT INTO counters (event_id, position, name, delta) VALUES (?1, ?2, ?3, ?4)")
        }
        return try database.transaction { () throws(SQLiteError) -> [Int64] in
            var ids: [Int64] = []
            ids.reserveCapacity(events.count)
            for e in events {
                let t = e.task
                try insertEvent!.run([
                    .unsigned(e.time.wallNanos), .unsigned(e.time.monotonicNanos), .text(e.kind.rawValue),
                    .string(e.guardName), .bytes(e.cgroup?.bytes), .unsigned(e.cgroupID), .string(e.trigger),
                    .string(e.measured), .string(e.reason), .string(e.method), .unsigned(e.memoryBefore),
                    .unsigned(e.memoryAfter), .unsigned(e.processes), .unsigned(e.durationNanos), .string(e.recording),
                    .string(t?.command), .signed(t.map { Int64($0.pid) }), .signed(t?.uid.map { Int64($0) }),
                    .string(t?.constraint), .bytes(t?.oomGroup?.bytes), .bytes(t?.taskGroup?.bytes),
                    .unsigned(t?.anonRSS), .unsigned(t?.fileRSS), .unsigned(t?.shmemRSS),
                    .string(e.pod?.uid), .bytes(e.pod?.name?.namespace), .bytes(e.pod?.name?.name),
                ])
                let id = database.lastInsertRowID
                for (i, c) in e.candidates.enumerated() {
                    try insertCandidate!.run([.integer(id), .integer(Int64(i)), .blob(c.path.bytes), .unsigned(c.id),
                                              .signed(c.rank.map { Int64($0) }), .text(c.score), .string(c.excluded)])
                }
                for (i, c) in e.counters.enumerated() {
                    try insertCounter!.run([.integer(id), .integer(Int64(i)), .text(c.name), .unsigned(c.delta)])
                }
                ids.append(id)
            }
            return ids
        }
    }

    // MARK: reading

    /// The columns read, by what the store's version has (an older store
    /// has no task columns: NULL in their place).
    var eventColumns: String {
        let base = "id, time_ns, monotonic_ns, kind, guard, cgroup, cgroup_id, trigger, measured, reason, method, "
            + "memory_before, memory_after, processes, duration_ns, recording"
        let task = version >= 2
            ? "task_command, task_pid, task_uid, task_constraint, task_oom_cgroup, task_cgroup, task_anon_rss, task_file_rss, task_shmem_rss"
            : "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        let pod = version >= 3 ? "pod_uid, pod_namespace, pod_name" : "NULL, NULL, NULL"
        return base + ", " + task + ", " + pod
    }

    /// Events matching `query`, oldest first, with their candidates and counters.
    public func events(_ query: EventQuery) throws(SQLiteError) -> [StoredEvent] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        func add(_ condition: String, _ value: SQLiteValue) {
            values.append(value)
            conditions.append(condition.replacingOccurrences("?", with: "?\(values.count)"))
        }
        if let since = query.since { add("time_ns >= ?", .unsigned(since)) }
        if let until = query.until { add("time_ns <= ?", .unsigned(until)) }
        if let after = query.afterID { add("id > ?", .integer(after)) }
        if !query.kinds.isEmpty {
            let placeholders = query.kinds.map { k -> String in
                values.append(.text(k.rawValue))
                return "?\(values.count)"
            }
            conditions.append("kind IN (" + placeholders.joined(separator: ", ") + ")")
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        var sql = "SELECT \(eventColumns) FROM events\(filter) ORDER BY id"
        if let limit = query.limit {
            sql = "SELECT * FROM (SELECT \(eventColumns) FROM events\(filter) ORDER BY id DESC LIMIT \(max(0, limit))) ORDER BY id"
        }
        let s = try database.prepare(sql)
        try s.bind(values)
        var out: [StoredEvent] = []
        while try s.step() { out.append(EventStore.row(s)) }
        try attachDetails(&out)
        return out
    }

    /// One event, whole; nil when there is none with this id (pruned, or never).
    public func event(id: Int64) throws(SQLiteError) -> StoredEvent? {
        let s = try database.prepare("SELECT \(eventColumns) FROM events WHERE id = ?1")
        try s.bind([.integer(id)])
        guard try s.step() else { return nil }
        var out = [EventStore.row(s)]
        try attachDetails(&out)
        return out.first
    }

    /// The greatest id, 0 for an empty store.
    public func lastID() throws(SQLiteError) -> Int64 {
        try database.integer("SELECT coalesce(max(id), 0) FROM events") ?? 0
    }

    public func count() throws(SQLiteError) -> Int {
        Int(try database.integer("SELECT count(*) FROM events") ?? 0)
    }

    static func row(_ s: SQLiteStatement) -> StoredEvent {
        let kind = GuardEvent.Kind(rawValue: s.text(3) ?? "") ?? .problem
        var e = GuardEvent(kind: kind, time: Timestamp(monotonicNanos: s.uint64(2) ?? 0, wallNanos: s.uint64(1) ?? 0),
                           guardName: s.text(4), cgroup: s.blob(5).flatMap(CgroupPath.init(stored:)), cgroupID: s.uint64(6),
                           trigger: s.text(7), measured: s.text(8), reason: s.text(9), method: s.text(10),
                           memoryBefore: s.uint64(11), memoryAfter: s.uint64(12), processes: s.uint64(13),
                           durationNanos: s.uint64(14))
        e.recording = s.text(15)
        if let command = s.text(16) {
            e.task = GuardEvent.KilledTask(
                command: command, pid: Int32(truncatingIfNeeded: s.int64(17) ?? 0), uid: s.int64(18).map { UInt32(truncatingIfNeeded: $0) },
                constraint: s.text(19), oomGroup: s.blob(20).flatMap(CgroupPath.init(stored:)),
                taskGroup: s.blob(21).flatMap(CgroupPath.init(stored:)), anonRSS: s.uint64(22), fileRSS: s.uint64(23),
                shmemRSS: s.uint64(24))
        }
        if let uid = s.text(25) {
            let name = s.blob(26).flatMap { ns in s.blob(27).map { PodName(namespace: ns, name: $0) } }
            e.pod = PodLabels(uid: uid, qos: e.cgroup.flatMap { KubernetesIdentity(path: $0)?.qos }, name: name)
        }
        return StoredEvent(id: s.int64(0) ?? 0, event: e)
    }

    /// Candidates and counters of `events`, in one query each.
    func attachDetails(_ events: inout [StoredEvent]) throws(SQLiteError) {
        guard let first = events.first?.id, let last = events.last?.id else { return }
        var index: [Int64: Int] = [:]
        for (i, e) in events.enumerated() { index[e.id] = i }
        let c = try database.prepare("""
            SELECT event_id, path, cgroup_id, rank, score, excluded FROM candidates
            WHERE event_id BETWEEN ?1 AND ?2 ORDER BY event_id, position
            """)
        try c.bind([.integer(first), .integer(last)])
        while try c.step() {
            guard let i = index[c.int64(0) ?? -1], let path = c.blob(1).flatMap(CgroupPath.init(stored:)) else { continue }
            events[i].event.candidates.append(GuardEvent.EventCandidate(
                path: path, id: c.uint64(2) ?? 0, rank: c.int64(3).map { Int(truncatingIfNeeded: $0) },
                score: c.text(4) ?? "", excluded: c.text(5)))
        }
        guard version >= 2 else { return }
        let k = try database.prepare("""
            SELECT event_id, name, delta FROM counters WHERE event_id BETWEEN ?1 AND ?2 ORDER BY event_id, position
            """)
        try k.bind([.integer(first), .integer(last)])
        while try k.step() {
            guard let i = index[k.int64(0) ?? -1] else { continue }
            events[i].event.counters.append(GuardEvent.CounterDelta(k.text(1) ?? "", k.uint64(2) ?? 0))
        }
    }

    /// Per group and kind, how many events of `kinds` since `since` and the
    /// time of the last (for `status`).
    public func summary(since: UInt64, kinds: [GuardEvent.Kind]) throws(SQLiteError)
        -> [CgroupPath: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]] {
        let placeholders = kinds.indices.map { "?\($0 + 2)" }.joined(separator: ", ")
        let s = try database.prepare("""
            SELECT cgroup, kind, count(*), max(time_ns) FROM events
            WHERE time_ns >= ?1 AND cgroup IS NOT NULL AND kind IN (\(placeholders))
            GROUP BY cgroup, kind ORDER BY cgroup, kind
            """)
        try s.bind([.unsigned(since)] + kinds.map { .text($0.rawValue) })
        var out: [CgroupPath: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]] = [:]
        while try s.step() {
            guard let path = s.blob(0).flatMap(CgroupPath.init(stored:)), let kind = GuardEvent.Kind(rawValue: s.text(1) ?? "") else {
                continue
            }
            out[path, default: []].append((kind, Int(s.int64(2) ?? 0), s.uint64(3) ?? 0))
        }
        return out
    }

    // MARK: retention

    /// Bytes the store's pages hold (free pages not counted).
    public func usedBytes() throws(SQLiteError) -> UInt64 {
        let pages = try database.integer("PRAGMA page_count") ?? 0
        let free = try database.integer("PRAGMA freelist_count") ?? 0
        let size = try database.integer("PRAGMA page_size") ?? 4096
        return UInt64(max(0, pages - free)) &* UInt64(max(0, size))
    }

    /// Deletes events older than `retention` and, while the store holds more
    /// than `maxSize`, the oldest, down to `maxSize × 0.9` (so that it does not
    /// prune at every commit), in transactions of `pruneBatch` rows; the
    /// newest are kept. Then gives the freed pages back and truncates the WAL.
    public func prune(retention: Duration?, maxSize: UInt64?, now wallNanos: UInt64,
                      batch: Int = EventStore.pruneBatch) throws(SQLiteError) -> PruneResult {
        var result = PruneResult()
        let delete = try database.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < ?1 ORDER BY id LIMIT ?2)")
        if let retention {
            let cutoff = wallNanos.subtractingSaturated(retention.nanosecondsClamped)
            let byTime = try database.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time_ns < ?1 ORDER BY id LIMIT ?2)")
            while true {
                let n = try database.transaction { () throws(SQLiteError) -> Int in
                    try byTime.run([.unsigned(cutoff), .integer(Int64(batch))])
                    return database.changes
                }
                result.transactions += 1
                result.byAge += n
                if n < batch { break }
            }
        }
        if let maxSize {
            var used = try usedBytes()
            if used > maxSize {
                let goal = maxSize / 10 * 9
                let newest = try lastID()
                while used > goal {
                    let rows = try count()
                    // Never the newest: a store over its size keeps at least its last event.
                    guard rows > 1 else { break }
                    let perEvent = max(1, used / UInt64(rows))
                    let wanted = Int(min(UInt64(batch), max(1, (used - goal) / perEvent)))
                    let n = try database.transaction { () throws(SQLiteError) -> Int in
                        try delete.run([.integer(newest), .integer(Int64(min(wanted, rows - 1)))])
                        return database.changes
                    }
                    result.transactions += 1
                    result.bySize += n
                    if n == 0 { break }
                    used = try usedBytes()
                }
            }
        }
        if result.byAge + result.bySize > 0 {
            try database.execute("PRAGMA incremental_vacuum")
            try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        return result
    }
}

extension String {
    /// Without Foundation: every `target` replaced.
    func replacingOccurrences(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

extension CgroupPath {
    /// A path as the store keeps it (the kernel's bytes); nil for bytes no
    /// cgroup path can have (an edited or damaged row), never trusted as is.
    init?(stored bytes: [UInt8]) {
        if bytes.isEmpty {
            self = .root
            return
        }
        var names: [CgroupName] = []
        for name in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard !name.isEmpty, name.count <= 255, !name.contains(0), name.elementsEqual([0x2e]) == false,
                  name.elementsEqual([0x2e, 0x2e]) == false else { return nil }
            names.append(CgroupName(bytes: Array(name)))
        }
        self.init(names: names)
    }
}
