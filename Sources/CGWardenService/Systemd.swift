#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CSystemd

/// Where the guard's events go: the journal, standard error, later the
/// event store. Called from the guard's loop; must not block it for long.
public protocol EventSink: AnyObject {
    func record(_ event: GuardEvent)
}

/// What the service manager is told (sd_notify(3)).
public protocol ServiceNotifier: AnyObject {
    /// `READY=1` with a status line: the first snapshot is taken.
    func ready(_ status: String)
    func status(_ status: String)
    /// `WATCHDOG=1`, when the unit has WatchdogSec.
    func watchdog()
    /// How often to send `watchdog()`, nil without a watchdog.
    var watchdogInterval: Duration? { get }
    func reloading()
    func stopping()
}

/// The journal through libsystemd (`sd_journal_sendv`): every event with
/// its own fields (`CGWARDEN_*`, a fixed `MESSAGE_ID` per kind), or, when
/// no journal listens (no systemd), one plain line on standard error.
public final class JournalSink: EventSink {
    public let toJournal: Bool
    let writeLine: (String) -> Void

    /// `toJournal`: default when journald's socket exists.
    public init(toJournal: Bool? = nil, writeLine: @escaping (String) -> Void = JournalSink.standardError) {
        self.toJournal = toJournal ?? (access("/run/systemd/journal/socket", F_OK) == 0)
        self.writeLine = writeLine
    }

    public static func standardError(_ line: String) {
        let s = line + "\n"
        _ = s.withCString { write(2, $0, strlen($0)) }
    }

    public func record(_ event: GuardEvent) {
        if toJournal {
            let fields = [("MESSAGE", "cgwarden: " + event.message), ("MESSAGE_ID", event.kind.messageID),
                          ("PRIORITY", String(event.kind.priority)), ("SYSLOG_IDENTIFIER", "cgwarden")] + event.fields
            if JournalSink.send(fields) { return }
        }
        writeLine("cgwarden: " + event.message)
    }

    /// sd_journal_sendv: one iovec per `KEY=value` (values may hold newlines).
    static func send(_ fields: [(String, String)]) -> Bool {
        let strings = fields.map { Array(($0.0 + "=" + $0.1).utf8) }
        var storage = strings.map { s -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(s.count, 1), alignment: 1)
            s.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: s.count) }
            return p
        }
        defer { for p in storage { p.deallocate() } }
        var iov = zip(storage, strings).map { iovec(iov_base: $0.0, iov_len: $0.1.count) }
        storage.reserveCapacity(0)
        return sd_journal_sendv(&iov, Int32(iov.count)) >= 0
    }
}

/// Every event as one JSON line (Docs/events-json.md), on standard error
/// or wherever `writeLine` goes: for scripts, tests and log shippers.
public final class JSONLineSink: EventSink {
    let writeLine: (String) -> Void
    public init(writeLine: @escaping (String) -> Void = JournalSink.standardError) { self.writeLine = writeLine }
    public func record(_ event: GuardEvent) {
        var j = event.json
        if case .object(var pairs) = j {
            pairs.append(("message", .string(event.message)))
            j = .object(pairs)
        }
        writeLine(j.serialized())
    }
}

/// sd_notify(3) to the service manager; nothing when not started by one.
public final class SystemdNotifier: ServiceNotifier {
    public let watchdogInterval: Duration?

    public init() {
        var usec: UInt64 = 0
        // Half the configured WatchdogSec, as sd_watchdog_enabled(3) advises.
        watchdogInterval = sd_watchdog_enabled(0, &usec) > 0 && usec > 0 ? .microseconds(Int64(usec / 2)) : nil
    }

    func notify(_ state: String) { _ = sd_notify(0, state) }

    public func ready(_ status: String) { notify("READY=1\nSTATUS=" + status) }
    public func status(_ status: String) { notify("STATUS=" + status) }
    public func watchdog() { notify("WATCHDOG=1") }
    public func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }
    public func stopping() { notify("STOPPING=1") }
}
