#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenIO

/// `cgwarden-bench pods [--entries 110,1000,20000]`: the cost of pod names
/// per snapshot, on a pod log directory made in /tmp (no cgroup: runs anywhere).
/// Times are the thread's CPU time: on a shared machine wall time measures the neighbours.
enum PodsBenchmark {
    static func time(_ body: () -> Void) -> Double {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
        body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
        return Double(b.tv_sec - a.tv_sec) * 1e6 + Double(b.tv_nsec - a.tv_nsec) / 1e3
    }

    static func run(entries sizes: [Int]) throws {
        print("| entries | parse (ms CPU) | first read: list + parse (ms CPU) | unchanged directory (µs CPU per snapshot) |")
        print("|---:|---:|---:|---:|")
        for n in sizes {
            var template = Array("/tmp/cgwarden-bench-pods-XXXXXX".utf8CString)
            guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw BenchError("mkdtemp") }
            let dir = String(cString: p)
            defer {
                for i in 0..<n { rmdir(dir + "/" + entry(i)) }
                rmdir(dir)
            }
            for i in 0..<n { mkdir(dir + "/" + entry(i), 0o755) }
            let names = (0..<n).map { Array(entry($0).utf8) }
            var count = 0
            let parse = median((0..<5).map { _ in time { count = PodNames(entries: names).count } })
            guard count == n else { throw BenchError("parsed \(count) of \(n)") }
            // Far after the directory's mtime: the second read trusts the first listing.
            let at = Timestamp(monotonicNanos: 0, wallNanos: UInt64.max / 2)
            let first = median((0..<5).map { _ in time { count = PodLogReader(directory: dir).read(at: at).count } })
            let reader = PodLogReader(directory: dir)
            _ = reader.read(at: at)
            let reps = 1000
            let cached = time { for _ in 0..<reps { count = reader.read(at: at).count } } / Double(reps)
            guard reader.listings == 1, count == n else { throw BenchError("the unchanged directory was listed again") }
            print("| \(n) | \(fmt(parse / 1000, 2)) | \(fmt(first / 1000, 2)) | \(fmt(cached, 1)) |")
        }
    }

    static func entry(_ i: Int) -> String {
        let hex = String(i, radix: 16)
        return "namespace-\(i % 40)_deployment-7c5ddbdf54-\(i)_\(String(repeating: "0", count: 8 - min(8, hex.count)))\(hex)-4b5a-6978-8a9b-0c1d2e3f4a5b"
    }
}
