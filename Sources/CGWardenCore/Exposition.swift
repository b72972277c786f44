/// The Prometheus text exposition format, version 0.0.4: what `/metrics`
/// serves. Values in, bytes out; every label value escaped, whatever bytes
/// it holds (cgroup names are bytes: text that is not UTF-8 becomes `\xNN`,
/// as `status` shows it, never a crash or an ill-formed line).
public struct Exposition {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// `# HELP` and `# TYPE` of a family; its samples follow, together.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        bytes += "# HELP ".utf8
        bytes += name.utf8
        bytes.append(0x20)
        for b in help.utf8 {
            switch b {
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x0A: bytes += [0x5C, 0x6E]
            default: bytes.append(b)
            }
        }
        bytes += "\n# TYPE ".utf8
        bytes += name.utf8
        bytes.append(0x20)
        bytes += kind.rawValue.utf8
        bytes.append(0x0A)
    }

    public mutating func sample(_ name: String, _ value: Double) { sample(name, LabelSet(), value) }
    public mutating func sample(_ name: String, _ value: UInt64) { sample(name, LabelSet(), value) }

    public mutating func sample(_ name: String, _ labels: LabelSet, _ value: Double) {
        head(name, labels)
        Exposition.append(value, to: &bytes)
        bytes.append(0x0A)
    }

    public mutating func sample(_ name: String, _ labels: LabelSet, _ value: UInt64) {
        head(name, labels)
        bytes += String(value).utf8
        bytes.append(0x0A)
    }

    /// A histogram's samples: `_bucket` per upper bound (cumulative, then
    /// `+Inf`), `_sum` and `_count`. `counts` are per bucket (not cumulative),
    /// one more than `bounds` (the last: above every bound).
    public mutating func histogram(_ name: String, _ labels: LabelSet = LabelSet(), bounds: [Double], counts: [UInt64], sum: Double) {
        var cumulative: UInt64 = 0
        for (i, bound) in bounds.enumerated() {
            cumulative = cumulative.addingSaturated(i < counts.count ? counts[i] : 0)
            var le: [UInt8] = []
            Exposition.append(bound, to: &le)
            sample(name + "_bucket", labels.adding("le", bytes: le), cumulative)
        }
        if counts.count > bounds.count { cumulative = cumulative.addingSaturated(counts[bounds.count]) }
        sample(name + "_bucket", labels.adding("le", "+Inf"), cumulative)
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, cumulative)
    }

    private mutating func head(_ name: String, _ labels: LabelSet) {
        bytes += name.utf8
        if !labels.rendered.isEmpty {
            bytes.append(0x7B)
            bytes += labels.rendered
            bytes.append(0x7D)
        }
        bytes.append(0x20)
    }

    /// A float as Prometheus reads it (Go's ParseFloat): `+Inf`, `-Inf`,
    /// `NaN`, whole numbers without a fraction, else the shortest text that
    /// reads back the same.
    public static func append(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN {
            out += "NaN".utf8
        } else if value.isInfinite {
            out += (value < 0 ? "-Inf" : "+Inf").utf8
        } else if value == value.rounded(), abs(value) < 0x1p53 {
            out += String(Int64(value)).utf8
        } else {
            out += value.description.utf8
        }
    }

    /// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels: no `:`).
    public static func isValidName(_ name: String, label: Bool = false) -> Bool {
        guard let first = name.utf8.first else { return false }
        func letter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || (!label && b == 0x3A) }
        return letter(first) && name.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}

/// Labels rendered once (`cgroup="/a.slice",unit="a.slice"`), shared by the
/// samples of a group or a guard. Empty values are left out: Prometheus
/// treats an empty label as absent.
public struct LabelSet: Sendable, Equatable {
    public private(set) var rendered: [UInt8] = []

    public init() {}

    public init(_ pairs: [(String, String?)]) {
        for (name, value) in pairs { if let value { add(name, value) } }
    }

    public mutating func add(_ name: String, _ value: String) {
        add(name, bytes: Array(value.utf8))
    }

    /// A value given as raw bytes (a cgroup name): escaped, never trusted to be UTF-8.
    public mutating func add<Bytes: Collection<UInt8>>(_ name: String, bytes value: Bytes) {
        guard !value.isEmpty else { return }
        if !rendered.isEmpty { rendered.append(0x2C) }
        rendered += name.utf8
        rendered += [0x3D, 0x22]
        LabelSet.escape(value, into: &rendered)
        rendered.append(0x22)
    }

    /// `other`'s labels after these (names must not repeat).
    public mutating func append(_ other: LabelSet) {
        guard !other.rendered.isEmpty else { return }
        if !rendered.isEmpty { rendered.append(0x2C) }
        rendered += other.rendered
    }

    public func adding(_ name: String, _ value: String) -> LabelSet {
        var l = self
        l.add(name, value)
        return l
    }

    public func adding<Bytes: Collection<UInt8>>(_ name: String, bytes value: Bytes) -> LabelSet {
        var l = self
        l.add(name, bytes: value)
        return l
    }

    /// The format's escapes (`\\`, `\"`, `\n`); other control bytes and bytes
    /// that are not well-formed UTF-8 as the four characters `\xNN` (the
    /// backslash itself escaped), so the value Prometheus stores reads as
    /// `status` prints the name.
    public static func escape<Bytes: Collection<UInt8>>(_ value: Bytes, into out: inout [UInt8]) {
        let v = Array(value)
        var i = 0
        func hex(_ b: UInt8) {
            let digits: [UInt8] = Array("0123456789abcdef".utf8)
            out += [0x5C, 0x5C, 0x78, digits[Int(b >> 4)], digits[Int(b & 0xF)]]
        }
        while i < v.count {
            let b = v[i]
            switch b {
            case 0x5C: out += [0x5C, 0x5C]; i += 1
            case 0x22: out += [0x5C, 0x22]; i += 1
            case 0x0A: out += [0x5C, 0x6E]; i += 1
            case 0x00..<0x20, 0x7F: hex(b); i += 1
            case 0x20..<0x7F: out.append(b); i += 1
            default:
                let n = LabelSet.wellFormedLength(v, at: i)
                if n == 0 {
                    hex(b)
                    i += 1
                } else {
                    // C1 controls (U+0080-U+009F) are shown escaped, as PathText does.
                    if n == 2, b == 0xC2, v[i + 1] < 0xA0 {
                        hex(v[i]); hex(v[i + 1])
                    } else {
                        out += v[i..<(i + n)]
                    }
                    i += n
                }
            }
        }
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (Unicode
    /// table 3-7: no overlongs, no surrogates, at most U+10FFFF), 0 if none.
    static func wellFormedLength(_ v: [UInt8], at i: Int) -> Int {
        let b0 = v[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { i + k < v.count && v[i + k] >= lo && v[i + k] <= hi }
        switch b0 {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}
