#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenStore
import CGWardenSystem

/// The reading side of the event store, for `cgwarden events` and `status`:
/// opened read-only while the daemon writes (WAL), filtered, followed.
public final class EventHistory {
    public let directory: String
    public private(set) var store: EventStore
    /// The store file's inode: a new one (a corrupt store moved aside) is reopened.
    private var inode: UInt64
    let clock: any Clock

    /// What `events` filters on.
    public struct Filter: Sendable {
        public var since: UInt64?
        public var until: UInt64?
        public var kinds: [GuardEvent.Kind] = []
        public var cgroup: CgroupPattern?
        public init(since: UInt64? = nil, until: UInt64? = nil, kinds: [GuardEvent.Kind] = [], cgroup: CgroupPattern? = nil) {
            self.since = since
            self.until = until
            self.kinds = kinds
            self.cgroup = cgroup
        }

        func accepts(_ e: GuardEvent) -> Bool {
            guard let cgroup else { return true }
            guard let path = e.cgroup else { return false }
            return cgroup.matches(path)
        }
    }

    /// Opens the store of `directory` for reading. As root, on a store that
    /// belongs to the daemon's user, this thread takes that user's file ids
    /// first (setfsuid): the -wal and -shm files SQLite may make beside the
    /// database are then the daemon's, never root's (which the daemon could
    /// no longer open), and a root without CAP_DAC_OVERRIDE (a container's,
    /// `kubectl exec`) may enter the user's directory.
    public init(directory: String, clock: any Clock = SystemClock()) throws(StoreError) {
        self.directory = directory
        self.clock = clock
        let file = EventStore.path(in: directory)
        if geteuid() == 0, let owner = try? Paths.status(directory).status, owner.uid != 0 {
            do { try ProcessControl.setFileSystemIDs(uid: owner.uid, gid: owner.gid) } catch { throw .system(error) }
        }
        let status: FileStatus
        do {
            status = try Paths.status(file).status
        } catch {
            if error.errno == ENOENT { throw .missing(path: file) }
            throw .system(error)
        }
        if geteuid() == 0 && status.uid != 0 {
            do { try ProcessControl.setFileSystemIDs(uid: status.uid, gid: status.gid) } catch { throw .system(error) }
        }
        inode = status.inode
        store = try EventStore.openForReading(directory: directory, clock: clock)
    }

    /// Events that pass `filter`, oldest first (the newest `limit` when given).
    public func events(_ filter: Filter, after id: Int64? = nil, limit: Int? = nil) throws(StoreError) -> [StoredEvent] {
        do {
            let found = try store.events(EventQuery(since: filter.since, until: filter.until, kinds: filter.kinds, afterID: id,
                                                    limit: filter.cgroup == nil ? limit : nil))
            let kept = found.filter { filter.accepts($0.event) }
            return limit.map { Array(kept.suffix($0)) } ?? kept
        } catch {
            throw .sqlite(error)
        }
    }

    public func event(id: Int64) throws(StoreError) -> StoredEvent? {
        do { return try store.event(id: id) } catch { throw .sqlite(error) }
    }

    /// Polls for events committed after `id` (the daemon is another process:
    /// the database is read again every `interval`), handing each batch to
    /// `body` until it returns false. A store replaced (moved aside when
    /// corrupt) is reopened and read from its start.
    public func follow(_ filter: Filter, after id: Int64, interval: Duration = .milliseconds(500),
                       _ body: ([StoredEvent]) -> Bool) throws(StoreError) {
        var last = id
        while true {
            let batch = try events(filter, after: last)
            if let newest = batch.last?.id { last = newest }
            // Events the filter left out still move the cursor.
            if let top = try? store.lastID(), top > last { last = top }
            if !body(batch) { return }
            clock.sleep(until: clock.now().monotonicNanos.addingSaturated(interval.nanosecondsClamped))
            if let now = try? Paths.status(EventStore.path(in: directory)).status.inode, now != inode,
               let reopened = try? EventStore.openForReading(directory: directory, clock: clock) {
                store = reopened
                inode = now
                last = 0
            }
        }
    }

    /// Per group, the kernel's and cgwarden's OOM events (oom, max, high,
    /// kill, incomplete) since `since`.
    public static let oomKinds: [GuardEvent.Kind] = [.oom, .max, .high, .kill, .incomplete]

    public func oomSummary(since: UInt64) throws(StoreError) -> [CgroupPath: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]] {
        do { return try store.summary(since: since, kinds: EventHistory.oomKinds) } catch { throw .sqlite(error) }
    }
}

/// A point in time as `--since` and `--until` take it: a duration back
/// from now (`2h`, `30m`, `7d`), a date (`2026-12-01`), or a date and time
/// (`2026-12-01T10:00`, `2026-12-01 10:00:30`) in the local zone, or in
/// UTC with a trailing `Z`.
public enum TimeSpec {
    public static func parse(_ text: String, now wallNanos: UInt64) -> UInt64? {
        if let d = Duration.parse(text) { return wallNanos.subtractingSaturated(d.nanosecondsClamped) }
        var s = Substring(text)
        let utc = s.hasSuffix("Z")
        if utc { s = s.dropLast() }
        let parts = s.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 1 || parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 3, date[0].count == 4, date[1].count == 2, date[2].count == 2,
              let year = Int(date[0]), let month = Int(date[1]), let day = Int(date[2]) else { return nil }
        var fields = CalendarTime.Fields(year: year, month: month, day: day)
        if parts.count == 2 {
            let time = parts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard time.count == 2 || time.count == 3, time.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
                  let hour = Int(time[0]), let minute = Int(time[1]) else { return nil }
            fields.hour = hour
            fields.minute = minute
            if time.count == 3 {
                guard let second = Int(time[2]) else { return nil }
                fields.second = second
            }
        }
        return CalendarTime.nanoseconds(fields, utc: utc)
    }
}
