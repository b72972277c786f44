/// A deterministic mutation generator: the same seed and corpus give the
/// same inputs on every machine, so a crash found in CI is replayed with
/// `--seed S --iterations N` (or from the file the crash handler saved).

/// SplitMix64: small, fast, and good enough to pick mutations.
struct Random {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
}

/// Numbers at the edges of every type the code converts to, as text.
let boundaryNumbers: [String] = [
    "18446744073709551615", "18446744073709551616", "18446744073709551614", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "4294967295", "4294967296",
    "2147483647", "2147483648", "-2147483648", "65535", "65536", "0", "00", "-0", "-1", "1",
    "18014398509481983", "18014398509481984", "4194304", "4194303",
    "184467440737095516.16", "99.99", "100.00", "100.01", "0.00", "1.5", "1e400", "-1e400", "1e-400",
    "340282366920938463463374607431768211456", "0.000000000000000000001", "nan", "inf", "-inf", "+inf",
    "1_000", "0x7fffffffffffffff", "0o777", "0b1",
]

/// Integers at the edges, for binary formats (little-endian when written).
let boundaryIntegers: [UInt64] = [
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
    0x1_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff, 4095, 4096, 600_000, 600_001,
]

struct Mutator {
    /// Inputs grow no larger (a repeat of a repeat of a line...).
    var maximumSize: Int
    /// Words of the target's format, spliced in whole.
    var dictionary: [[UInt8]]
    var binary: Bool

    /// One to eight stacked mutations of `input`; `corpus` supplies splices.
    func mutate(_ input: [UInt8], corpus: [[UInt8]], _ r: inout Random) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + r.below(8)) {
            mutateOnce(&b, corpus: corpus, &r)
            if b.count > maximumSize { b.removeLast(b.count - maximumSize) }
        }
        return b
    }

    func mutateOnce(_ b: inout [UInt8], corpus: [[UInt8]], _ r: inout Random) {
        let kinds = binary ? 12 : 16
        switch r.below(kinds) {
        case 0:  // flip a bit
            guard !b.isEmpty else { return }
            b[r.below(b.count)] ^= UInt8(1) << UInt8(r.below(8))
        case 1:  // set a byte to an interesting value
            guard !b.isEmpty else { return }
            b[r.below(b.count)] = r.pick([0, 0xff, 0x7f, 0x80, 0x0a, 0x20, 0x09, 0x0d, 0x2d, 0x2e, 0x3d, 0x3a, 0x22, 0x5c, 0xc3, 0xe2])
        case 2:  // insert random bytes
            let n = 1 + r.below(8)
            b.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: r.next()) }, at: r.below(b.count + 1))
        case 3:  // delete a range
            guard !b.isEmpty else { return }
            let at = r.below(b.count)
            b.removeSubrange(at..<min(b.count, at + 1 + r.below(16)))
        case 4:  // repeat a range: 2 to 8 times, now and then thousands of times
            guard !b.isEmpty else { return }
            let at = r.below(b.count)
            let chunk = Array(b[at..<min(b.count, at + 1 + r.below(64))])
            let times = r.chance(64) ? 1000 + r.below(20_000) : 2 + r.below(7)
            var repeated: [UInt8] = []
            repeated.reserveCapacity(min(maximumSize, chunk.count * times))
            for _ in 0..<times where repeated.count < maximumSize { repeated += chunk }
            b.insert(contentsOf: repeated, at: at)
        case 5:  // splice: a piece of another corpus entry
            let other = r.pick(corpus)
            guard !other.isEmpty else { return }
            let from = r.below(other.count)
            let piece = other[from..<min(other.count, from + 1 + r.below(256))]
            if r.chance(2) {
                b.insert(contentsOf: piece, at: r.below(b.count + 1))
            } else {
                b = Array(b.prefix(r.below(b.count + 1))) + other[from...]
            }
        case 6:  // truncate
            guard !b.isEmpty else { return }
            b.removeLast(r.below(b.count) + 1)
        case 7:  // overwrite 1, 2, 4 or 8 bytes with an integer at an edge
            let width = r.pick([1, 2, 4, 8])
            guard b.count >= width else { return }
            var v = r.pick(boundaryIntegers)
            if r.chance(4) { v = v &- 1 }
            let at = r.below(b.count - width + 1)
            for i in 0..<width { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        case 8:  // a dictionary word
            guard !dictionary.isEmpty else { return }
            b.insert(contentsOf: r.pick(dictionary), at: r.below(b.count + 1))
        case 9:  // the same byte many times
            b.insert(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: r.next()), count: 1 + r.below(r.chance(8) ? 4096 : 16)),
                     at: r.below(b.count + 1))
        case 10:  // swap two bytes
            guard b.count >= 2 else { return }
            b.swapAt(r.below(b.count), r.below(b.count))
        case 11:  // an arithmetic change of a byte
            guard !b.isEmpty else { return }
            let i = r.below(b.count)
            b[i] = b[i] &+ UInt8(truncatingIfNeeded: r.below(33) - 16)
        case 12:  // replace a run of digits by a number at an edge
            replaceNumber(&b, with: Array(r.pick(boundaryNumbers).utf8), &r)
        case 13:  // line surgery: duplicate, delete, swap, or repeat a line very often
            lineSurgery(&b, &r)
        case 14:  // deep nesting (TOML arrays and tables, JSON)
            let depth = r.chance(32) ? 1 + r.below(100_000) : 1 + r.below(200)
            let open = r.pick(["[", "{", "{\"a\":", "{a=", "[[", "a.", "\"", "'''"])
            let close = open == "[" || open == "[[" ? "]" : open == "\"" || open == "'''" ? open : "}"
            var nest: [UInt8] = []
            for _ in 0..<depth where nest.count < maximumSize / 2 { nest += Array(open.utf8) }
            for _ in 0..<(r.chance(2) ? depth : 0) where nest.count < maximumSize { nest += Array(close.utf8) }
            b.insert(contentsOf: nest, at: r.below(b.count + 1))
        default:  // a number at an edge, inserted
            b.insert(contentsOf: Array(r.pick(boundaryNumbers).utf8), at: r.below(b.count + 1))
        }
    }

    func replaceNumber(_ b: inout [UInt8], with number: [UInt8], _ r: inout Random) {
        let isDigit: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 }
        let starts = b.indices.filter { isDigit(b[$0]) && ($0 == 0 || !isDigit(b[$0 - 1])) }
        guard !starts.isEmpty else {
            b.insert(contentsOf: number, at: r.below(b.count + 1))
            return
        }
        let s = r.pick(starts)
        var e = s
        while e < b.count && (isDigit(b[e]) || b[e] == 0x2e) { e += 1 }
        b.replaceSubrange(s..<e, with: number)
    }

    func lineSurgery(_ b: inout [UInt8], _ r: inout Random) {
        var lines = b.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
        guard !lines.isEmpty else { return }
        let i = r.below(lines.count)
        var kind = r.below(5)
        if kind == 3 && !r.chance(8) { kind = 0 }   // many lines: rare (large inputs run slowly)
        switch kind {
        case 0: lines.insert(lines[i], at: r.below(lines.count + 1))
        case 1: lines.remove(at: i)
        case 2: lines.swapAt(i, r.below(lines.count))
        case 3:
            // Many lines: what a quadratic parser chokes on (distinct keys: a digit suffix).
            let n = 1000 + r.below(50_000)
            var extra: [[UInt8]] = []
            var size = b.count
            for k in 0..<n where size < maximumSize {
                var l = lines[i]
                if let sp = l.firstIndex(where: { $0 == 0x20 || $0 == 0x3a || $0 == 0x3d }) {
                    l.insert(contentsOf: Array(String(k).utf8), at: sp)
                }
                size += l.count + 1
                extra.append(l)
            }
            lines.insert(contentsOf: extra, at: i)
        default:
            lines[i] = Array(lines[i].reversed())
        }
        b = Array(lines.joined(separator: [0x0a]))
    }
}
