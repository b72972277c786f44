#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem
import Synchronization

/// The daemon's flight recorder and the recordings it writes beside each
/// kill: `STATE/recordings/kill-TIME-ID.jsonl`, in the format of `cgwarden
/// record`, so that `cgwarden explain --replay FILE --config SAME` makes the
/// decision again (Docs/recording.md).
///
/// A recording is decoded and written on a thread of its own (about a
/// second of a core for 300 snapshots of 1,000 groups in a debug build),
/// under a hidden name, then renamed: a reader sees it whole or not at all.
/// One at a time; at most `kept` stay, the oldest go.
public final class FlightRecordings: @unchecked Sendable {
    /// Recordings left on disk: each is at most the recorder's byte cap
    /// as JSON (~30 times its in-memory size), and the newest tell the story.
    public static let kept = 20
    public static let subdirectory = "recordings"

    /// `STATE/recordings` (StateDirectory): opened at each recording, as
    /// the daemon's user, who owns it.
    public let directory: String
    public private(set) var recorder: FlightRecorder
    private let state = Mutex<(writing: Bool, problems: [String])>((false, []))

    public init(directory: String, window: Duration, maxBytes: UInt64) {
        self.directory = directory
        recorder = FlightRecorder(window: window, maxBytes: Int(clamping: maxBytes))
    }

    /// Keeps a snapshot.
    public func append(_ snapshot: Snapshot) { recorder.append(snapshot) }

    /// A new window or cap (a reload): what is held goes only when they changed.
    public func update(window: Duration, maxBytes: UInt64) {
        guard window != recorder.window || Int(clamping: maxBytes) != recorder.maxBytes else { return }
        recorder = FlightRecorder(window: window, maxBytes: Int(clamping: maxBytes))
    }

    /// The file name of the recording of a kill of group `id` decided at `time`.
    public static func name(time: Timestamp, id: UInt64) -> String {
        "kill-" + Units.isoTime(wallNanos: time.wallNanos).filter { $0 != ":" } + "-\(id).jsonl"
    }

    /// Starts writing what the recorder holds; the path the recording will
    /// have, or nil (recorder off or empty, or a recording still being written:
    /// said by `takeProblems`).
    public func write(time: Timestamp, id: UInt64, intervalNanos: UInt64) -> String? {
        guard recorder.isEnabled, recorder.count > 0 else { return nil }
        let busy = state.withLock { s -> Bool in
            if s.writing { return true }
            s.writing = true
            return false
        }
        if busy {
            note("no flight recording for the kill of group \(id): the previous one is still being written")
            return nil
        }
        let name = FlightRecordings.name(time: time, id: id)
        let job = Job(owner: self, recorder: recorder, name: name, intervalNanos: intervalNanos)
        let thread: pthread_t
        do {
            thread = try Threads.start { job.run() }
        } catch {
            state.withLock { $0.writing = false }
            note("no flight recording: \(error)")
            return nil
        }
        pthread_detach(thread)
        return directory + "/" + name
    }

    /// Whether a recording is being written (tests wait for it).
    public var writing: Bool { state.withLock { $0.writing } }

    /// What went wrong since the last call, for problem events.
    public func takeProblems() -> [String] {
        state.withLock { s in
            defer { s.problems = [] }
            return s.problems
        }
    }

    fileprivate func note(_ problem: String) {
        state.withLock { s in
            if s.problems.count < 16 { s.problems.append(problem) }
        }
    }

    fileprivate func done() { state.withLock { $0.writing = false } }

    /// One recording being written, on its own thread.
    final class Job: @unchecked Sendable {
        let owner: FlightRecordings
        let recorder: FlightRecorder
        let name: String
        let intervalNanos: UInt64

        init(owner: FlightRecordings, recorder: FlightRecorder, name: String, intervalNanos: UInt64) {
            self.owner = owner
            self.recorder = recorder
            self.name = name
            self.intervalNanos = intervalNanos
        }

        func run() {
            defer { owner.done() }
            let hidden = "." + name + ".tmp", final = owner.directory + "/" + name
            let dir: Int32
            do {
                dir = try Files.open(owner.directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            } catch {
                owner.note("no flight recording \(final): \(error)")
                return
            }
            defer { Files.close(dir) }
            // One recording at a time: a hidden file here now is what a
            // stopped writer left.
            for stale in (try? Directories.names(in: dir)) ?? [] where stale.hasPrefix(".kill-") {
                try? Paths.remove(stale, in: dir)
            }
            do {
                let fd = try Paths.createFile(hidden, in: dir, mode: 0o640, path: owner.directory + "/" + hidden)
                var failure: SystemError?
                var pending: [UInt8] = []
                pending.reserveCapacity(128 << 10)
                func flush() {
                    guard failure == nil, !pending.isEmpty else { return }
                    let written = pending.withUnsafeBytes { b in Result { () throws(SystemError) in try Files.writeAll(fd, b, path: final) } }
                    if case .failure(let e) = written { failure = e }
                    pending.removeAll(keepingCapacity: true)
                }
                recorder.recordingLines(intervalNanos: intervalNanos) { line in
                    pending += line.utf8
                    pending.append(0x0a)
                    if pending.count >= 64 << 10 { flush() }
                }
                flush()
                Files.close(fd)
                if let failure { throw failure }
                try Paths.rename(hidden, to: name, in: dir)
            } catch {
                try? Paths.remove(hidden, in: dir)
                owner.note("no flight recording \(final): \(error)")
                return
            }
            prune(dir)
        }

        /// The oldest recordings past `kept` go.
        func prune(_ dir: Int32) {
            guard let names = try? Directories.names(in: dir) else { return }
            let recordings = names.filter { $0.hasPrefix("kill-") && $0.hasSuffix(".jsonl") }.sorted()
            for old in recordings.dropLast(FlightRecordings.kept) { try? Paths.remove(old, in: dir) }
        }
    }
}
