#if canImport(Glibc)
import Glibc
#endif
import CFuzzDriver

/// The seeded run of one target: every corpus file once as it is, then
/// mutations of them until the iteration or time budget is spent.
struct SeededRun {
    var target: FuzzTarget
    var corpus: [[UInt8]]
    var seed: UInt64
    var iterations: Int?
    var seconds: Double?
    /// An input slower than this is a finding (a quadratic step): saved, and the run fails.
    var slowSeconds: Double
    /// Where a crashing or slow input is saved.
    var outputDirectory: String

    struct Result {
        var inputs = 0
        var elapsed = 0.0
        var slowest = 0.0
        var slowestSize = 0
        var largest = 0
        var slowInput: String?
    }

    func run() -> Result {
        var r = Result()
        var random = Random(seed: seed ^ UInt64(truncatingIfNeeded: target.rawValue.hashValueStable))
        let mutator = Mutator(maximumSize: target.maximumSize, dictionary: target.dictionary.map { Array($0.utf8) },
                              binary: target == .wire)
        let crashPath = strdup("\(outputDirectory)/crash-\(target.rawValue)-seed\(seed)")!
        defer { free(crashPath) }
        let message = strdup("cgwarden-fuzz: \(target.rawValue) (seed \(seed)) crashed; the input is in ")!
        defer { free(message) }
        let start = now()
        var current: [UInt8] = corpus.first ?? []
        var i = 0
        while true {
            if let iterations, i >= iterations { break }
            if let seconds, now() - start >= seconds { break }
            let input: [UInt8]
            if i < corpus.count {
                input = corpus[i]
            } else {
                // Mostly fresh mutations of a corpus file; sometimes a mutation of the last input (deeper changes).
                if random.chance(4) && current.count < target.maximumSize / 2 {
                    current = mutator.mutate(current, corpus: corpus, &random)
                } else {
                    current = mutator.mutate(corpus.isEmpty ? [] : random.pick(corpus), corpus: corpus.isEmpty ? [[]] : corpus, &random)
                }
                input = current
            }
            let t0 = now()
            input.withUnsafeBufferPointer { b in
                cgw_fuzz_set_current(b.baseAddress, b.count, crashPath, message)
                target.run(b)
            }
            cgw_fuzz_set_current(nil, 0, nil, nil)
            var dt = now() - t0
            if dt > slowSeconds {
                // Descheduled on a busy machine, or really slow? The fastest of three runs tells.
                for _ in 0..<2 {
                    let t1 = now()
                    input.withUnsafeBufferPointer { b in
                        cgw_fuzz_set_current(b.baseAddress, b.count, crashPath, message)
                        target.run(b)
                    }
                    cgw_fuzz_set_current(nil, 0, nil, nil)
                    dt = min(dt, now() - t1)
                }
            }
            if dt > r.slowest {
                r.slowest = dt
                r.slowestSize = input.count
            }
            r.largest = max(r.largest, input.count)
            if dt > slowSeconds && r.slowInput == nil {
                let path = "\(outputDirectory)/slow-\(target.rawValue)-seed\(seed)-\(i)"
                writeBytes(path, input)
                r.slowInput = path
            }
            r.inputs += 1
            i += 1
        }
        r.elapsed = now() - start
        return r
    }
}

extension String {
    /// A hash that is the same in every process (String.hashValue is seeded per process).
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The files of a corpus directory, by name (sorted: the run is deterministic).
func loadCorpus(_ dir: String) -> [[UInt8]] {
    guard let d = opendir(dir) else { return [] }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name.hasPrefix(".") || name == "README.md" { continue }
        names.append(name)
    }
    closedir(d)
    return names.sorted().compactMap { readBytes(dir + "/" + $0) }
}

func readBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        out += buf[0..<n]
    }
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        printError("cgwarden-fuzz: cannot write \(path): \(String(cString: strerror(errno)))")
        return
    }
    defer { close(fd) }
    bytes.withUnsafeBytes { b in
        var off = 0
        while off < b.count {
            let n = write(fd, b.baseAddress! + off, b.count - off)
            if n <= 0 { return }
            off += n
        }
    }
}

/// One line on standard output, written at once (not buffered: it must be
/// out before a later target crashes the process).
func printLine(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

func printError(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
