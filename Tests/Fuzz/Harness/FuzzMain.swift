#if canImport(Glibc)
import Glibc
#endif
import CFuzzDriver
import CGWardenCore

let usage = """
    usage: cgwarden-fuzz [TARGET...] [--seconds S] [--iterations N] [--seed N] [--corpus DIR] [--out DIR] [--slow S]
           cgwarden-fuzz --replay TARGET FILE...       run saved inputs once (a crash file)
           cgwarden-fuzz --write-wire-seeds DIR        write the wire corpus (encoded valid messages)
           cgwarden-fuzz --bench                       time the memory.stat parser
      built for libFuzzer with -DCGWARDEN_LIBFUZZER (scripts/fuzz):
           cgwarden-fuzz TARGET [libFuzzer options] [CORPUS_DIR...]
    targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")) (default: all)
    The seeded run feeds each corpus file (Tests/Fuzz/Corpus/TARGET/), then
    deterministic mutations of them, to the target for --iterations inputs or
    --seconds per target. A trap ends the process (the input is saved in --out);
    an input slower than --slow seconds is saved and fails the run.
    """

#if CGWARDEN_LIBFUZZER
/// The target libFuzzer drives (chosen by the first argument).
nonisolated(unsafe) var libFuzzerTarget = FuzzTarget.kernelFiles
#endif

@main
struct FuzzMain {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        #if CGWARDEN_LIBFUZZER
        guard let first = args.first, let t = FuzzTarget(rawValue: first) else {
            printError("usage: cgwarden-fuzz TARGET [libFuzzer options] [CORPUS_DIR...]; targets: "
                       + FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))
            exit(64)
        }
        libFuzzerTarget = t
        args.removeFirst()
        var argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + args).map { strdup($0) } + [nil]
        var argc = Int32(argv.count - 1)
        let rc = argv.withUnsafeMutableBufferPointer { buf -> Int32 in
            var p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buf.baseAddress
            return LLVMFuzzerRunDriver(&argc, &p) { data, size in
                libFuzzerTarget.run(Bytes(start: data, count: size))
                return 0
            }
        }
        exit(rc)
        #else
        exit(seeded(&args))
        #endif
    }

    static func seeded(_ args: inout [String]) -> Int32 {
        var targets: [FuzzTarget] = []
        var seconds: Double?
        var iterations: Int?
        var seed: UInt64 = 1
        var corpusRoot = repositoryRoot() + "/Tests/Fuzz/Corpus"
        var out = "."
        var slow = 10.0
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { printError("cgwarden-fuzz: \(args[i - 1]) needs a value\n" + usage); exit(64) }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--seconds": seconds = Double(value())
            case "--iterations": iterations = Int(value())
            case "--seed": seed = UInt64(value()) ?? 1
            case "--corpus": corpusRoot = value()
            case "--out": out = value()
            case "--slow": slow = Double(value()) ?? 10
            case "--replay":
                guard i + 1 < args.count, let t = FuzzTarget(rawValue: args[i + 1]) else { printError(usage); return 64 }
                return replay(t, Array(args[(i + 2)...]))
            case "--write-wire-seeds": return WireSeeds.write(to: value())
            case "--bench": return bench()
            case "-h", "--help": printLine(usage); return 0
            case "all": targets += FuzzTarget.allCases
            default:
                guard let t = FuzzTarget(rawValue: a) else { printError("cgwarden-fuzz: unknown argument '\(a)'\n" + usage); return 64 }
                targets.append(t)
            }
            i += 1
        }
        if targets.isEmpty { targets = FuzzTarget.allCases }
        if seconds == nil && iterations == nil { iterations = 10_000 }
        cgw_fuzz_install_crash_handler()
        var failed = false
        for t in targets {
            let corpus = loadCorpus(corpusRoot + "/" + t.rawValue)
            if corpus.isEmpty { printError("cgwarden-fuzz: warning: no corpus in \(corpusRoot)/\(t.rawValue)") }
            let run = SeededRun(target: t, corpus: corpus, seed: seed, iterations: iterations, seconds: seconds,
                                slowSeconds: slow, outputDirectory: out)
            let r = run.run()
            let rate = r.elapsed > 0 ? Double(r.inputs) / r.elapsed : 0
            printLine("\(t.rawValue): \(r.inputs) inputs (\(corpus.count) corpus files), seed \(seed), "
                  + "\(Units.decimal(r.elapsed, decimals: 1)) s, \(Int(saturating: rate.rounded()))/s; "
                  + "slowest input \(Units.decimal(r.slowest * 1000, decimals: 1)) ms (\(r.slowestSize) bytes), largest \(r.largest) bytes")
            if let slowInput = r.slowInput {
                printError("cgwarden-fuzz: \(t.rawValue): an input took over \(slow) s (a quadratic step?): \(slowInput)")
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    static func replay(_ t: FuzzTarget, _ files: [String]) -> Int32 {
        cgw_fuzz_install_crash_handler()
        for f in files {
            guard let b = readBytes(f) else { printError("cgwarden-fuzz: cannot read \(f)"); return 1 }
            let t0 = now()
            t.run(b)
            printLine("\(f): \(b.count) bytes, \(Units.decimal((now() - t0) * 1000, decimals: 1)) ms, no crash")
        }
        return 0
    }

    /// The parser alone: the normal 51-key memory.stat of a 6.1 kernel, and 200,000 keys.
    static func bench() -> Int32 {
        guard let normal = readBytes(repositoryRoot() + "/Tests/Fixtures/node-6.1/cgroup/kubepods.slice/memory.stat") else { return 1 }
        var keys = 0
        let n = 200_000
        let t0 = now()
        normal.withUnsafeBufferPointer { b in
            for _ in 0..<n { keys &+= (try? Parse.memoryStat(b))?.count ?? 0 }
        }
        let perParse = (now() - t0) / Double(n)
        printLine("memory.stat, 51 keys (node-6.1 fixture): \(Units.decimal(perParse * 1e6, decimals: 2)) µs per parse (\(n) parses, \(keys / n) keys)")
        for size in [10_000, 50_000, 200_000] {
            var s = "anon 1\nfile 2\n"
            for k in 0..<size { s += "key\(k) \(k)\n" }
            let t1 = now()
            let count = (try? Parse.memoryStat(s))?.count ?? -1
            printLine("memory.stat, \(size) keys: \(Units.decimal((now() - t1) * 1000, decimals: 1)) ms (\(count) keys)")
        }
        return 0
    }
}

/// The repository's top directory, from this source file's path (the harness runs from a checkout).
func repositoryRoot() -> String {
    let file: String = #filePath   // .../Tests/Fuzz/Harness/FuzzMain.swift
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)
    return parts.joined(separator: "/")
}
