/// Sizes, percentages and durations as the configuration writes them.

/// A span of time, in nanoseconds (the unit of snapshot timestamps).
public struct TimeSpan: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    /// Saturates at 0 and 2^64-1 ns (584 years).
    public static func seconds(_ s: Double) -> TimeSpan { TimeSpan(nanoseconds: UInt64(saturating: (s * 1e9).rounded())) }
    public static func milliseconds(_ ms: UInt64) -> TimeSpan { TimeSpan(nanoseconds: ms.multipliedSaturated(by: 1_000_000)) }
    public static let zero = TimeSpan(nanoseconds: 0)

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `500ms`, `10s`, `1.5s`, `5m`, `2h`: the largest unit that shows it exactly.
    public var description: String {
        let ns = nanoseconds
        if ns == 0 { return "0s" }
        if ns % 3_600_000_000_000 == 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 && ns < 1_000_000_000 { return "\(ns / 1_000_000)ms" }
        return Quantities.decimal(Double(ns) / 1e9, 1) + "s"
    }

    /// Parses `500ms`, `30s`, `1.5s`, `5m`, `1h`; a plain number is not accepted
    /// (a unit is required, so that `for = 10` cannot mean 10 ms by surprise).
    public static func parse(_ text: String) -> TimeSpan? {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "5m" must not be read as "5" + "m" of "ms": ms is tried first.
            guard let v = Quantities.number(number), v >= 0, v * scale < 1.8e19 else { return nil }
            return TimeSpan(nanoseconds: UInt64((v * scale).rounded()))
        }
        return nil
    }
}

/// A share, 0...1 internally, written `90%` (or a plain number of percent).
public struct Percent: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// 0.9 for 90%.
    public var fraction: Double

    public init(fraction: Double) { self.fraction = fraction }
    public static func percent(_ p: Double) -> Percent { Percent(fraction: p / 100) }

    public var percent: Double { fraction * 100 }
    public static func < (a: Percent, b: Percent) -> Bool { a.fraction < b.fraction }
    public var description: String { Quantities.trimmed(percent) + "%" }

    /// `90%`, `12.5%`.
    public static func parse(_ text: String) -> Percent? {
        guard text.hasSuffix("%"), let v = Quantities.number(text.dropLast()), v >= 0 else { return nil }
        return .percent(v)
    }
}

public enum Quantities {
    static let sizeUnits: [(Character, UInt64)] = [
        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("P", 1 << 50),
    ]

    /// `512M`, `2G`, `1.5G`, `4096` (bytes), `64K`; binary units, as the kernel
    /// and systemd read them. An optional `B`/`iB` after the unit is accepted (`2GiB`).
    public static func size(_ text: String) -> UInt64? {
        var t = Substring(text)
        if t.hasSuffix("iB") { t = t.dropLast(2) } else if t.hasSuffix("B") && t.count > 1 && !t.dropLast().last!.isNumber { t = t.dropLast() }
        if let last = t.last, let unit = sizeUnits.first(where: { $0.0 == last.uppercased().first! && last.isLetter }) {
            guard let v = number(t.dropLast()), v >= 0, v * Double(unit.1) < 1.8e19 else { return nil }
            return UInt64((v * Double(unit.1)).rounded())
        }
        guard !t.isEmpty, t.allSatisfy(\.isNumber) else { return nil }
        return UInt64(t)
    }

    /// A plain decimal number (`12`, `1.5`), no exponent, no sign but `-`.
    static func number(_ s: Substring) -> Double? {
        guard !s.isEmpty, s.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }),
              s.filter({ $0 == "." }).count <= 1, !s.hasSuffix("."), !s.hasPrefix(".") else { return nil }
        return Double(s)
    }

    static func trimmed(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : decimal(v, 2)
    }

    /// At most `places` decimals, trailing zeros dropped. Values too large
    /// for 64-bit fixed point (only seen in forged input: a rate computed
    /// over a counter at 2^64-1) are shown in exponent form.
    static func decimal(_ v: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        guard v.isFinite else { return v.isNaN ? "nan" : v < 0 ? "-inf" : "inf" }
        guard abs(v * scale) < 9e18 else { return String(v) }
        let n = Int64((v * scale).rounded())
        let whole = n.magnitude / UInt64(scale), frac = n.magnitude % UInt64(scale)
        let sign = n < 0 ? "-" : ""
        var f = String(frac)
        while f.count < places { f = "0" + f }
        while f.hasSuffix("0") { f.removeLast() }
        return f.isEmpty ? sign + String(whole) : "\(sign)\(whole).\(f)"
    }
}
