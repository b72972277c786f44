import CGWardenCore

/// Sizes, percentages and durations as the configuration writes them.

/// A span of time, in nanoseconds (the unit of snapshot timestamps).
public struct TimeSpan: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    /// Saturates: negative or NaN is zero, beyond `maximum` is `maximum`.
    public static func seconds(_ seconds: Double) -> TimeSpan { TimeSpan(nanoseconds: clamped(seconds * 1e9)) }
    /// Saturates at `maximum`.
    public static func milliseconds(_ milliseconds: UInt64) -> TimeSpan {
        let (product, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        return TimeSpan(nanoseconds: overflow ? maximum.nanoseconds : min(product, maximum.nanoseconds))
    }
    public static let zero = TimeSpan(nanoseconds: 0)
    /// The longest span a configuration or an option may give: `Int64.max` nanoseconds, about
    /// 292 years. Spans become `Duration`s and `Int64` timeouts, and are added to monotonic
    /// timestamps; below this bound neither conversion nor sum can trap.
    public static let maximum = TimeSpan(nanoseconds: UInt64(Int64.max))

    /// `nanoseconds` rounded and held to 0...maximum (NaN is 0).
    static func clamped(_ nanoseconds: Double) -> UInt64 {
        guard nanoseconds > 0 else { return 0 }
        guard nanoseconds < Double(Int64.max) else { return maximum.nanoseconds }
        return UInt64(nanoseconds.rounded())
    }

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
        return Units.decimal(Double(ns) / 1e9, decimals: 1, trimmingZeros: true) + "s"
    }

    /// Parses `500ms`, `30s`, `1.5s`, `5m`, `1h`; a plain number is not accepted
    /// (a unit is required, so that `for = 10` cannot mean 10 ms by surprise).
    public static func parse(_ text: String) -> TimeSpan? { try? parsing(text).get() }

    /// As `parse`, telling a span longer than `maximum` from text that is no span at all.
    public static func parsing(_ text: String) -> Result<TimeSpan, QuantityError> {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            // "5m" must not be read as "5" + "m" of "ms": ms is tried first.
            guard let value = Quantities.number(text.dropLast(suffix.count)), value >= 0 else { return .failure(.malformed) }
            let nanoseconds = (value * scale).rounded()
            // Double(Int64.max) is 2^63; every double below it converts.
            guard nanoseconds < Double(Int64.max) else { return .failure(.tooLarge) }
            return .success(TimeSpan(nanoseconds: UInt64(nanoseconds)))
        }
        return .failure(.malformed)
    }
}

/// Why a size, duration or percentage was refused.
public enum QuantityError: Error, Equatable, Sendable {
    /// Not written as one (`12Q`, `10 s`, `1e3M`).
    case malformed
    /// Well written, but beyond what the value can hold (sizes: 64-bit bytes; durations:
    /// `TimeSpan.maximum`; percentages: a finite double).
    case tooLarge
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
    public static func parse(_ text: String) -> Percent? { try? parsing(text).get() }

    /// As `parse`; `.tooLarge` for digits beyond the range of a double (`1000…0%`, 400 digits).
    public static func parsing(_ text: String) -> Result<Percent, QuantityError> {
        guard text.hasSuffix("%"), let value = Quantities.number(text.dropLast()), value >= 0 else {
            return .failure(.malformed)
        }
        return value.isFinite ? .success(.percent(value)) : .failure(.tooLarge)
    }
}

public enum Quantities {
    static let sizeUnits: [(Character, UInt64)] = [
        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("P", 1 << 50),
    ]

    /// `512M`, `2G`, `1.5G`, `4096` (bytes), `64K`; binary units, as the kernel
    /// and systemd read them. An optional `B`/`iB` after the unit is accepted (`2GiB`).
    public static func size(_ text: String) -> UInt64? { try? sizing(text).get() }

    /// As `size`; `.tooLarge` from 1.8e19 bytes up (a byte count is 64 bits, 2^64 ≈ 1.845e19).
    public static func sizing(_ text: String) -> Result<UInt64, QuantityError> {
        var body = Substring(text)
        if body.hasSuffix("iB") {
            body = body.dropLast(2)
        } else if body.hasSuffix("B") && body.count > 1 && !body.dropLast().last!.isNumber {
            body = body.dropLast()
        }
        if let last = body.last, let unit = sizeUnits.first(where: { $0.0 == last.uppercased().first! && last.isLetter }) {
            guard let value = number(body.dropLast()), value >= 0 else { return .failure(.malformed) }
            let bytes = (value * Double(unit.1)).rounded()
            guard bytes < 1.8e19 else { return .failure(.tooLarge) }
            return .success(UInt64(bytes))
        }
        guard !body.isEmpty, body.allSatisfy(\.isNumber) else { return .failure(.malformed) }
        if let bytes = UInt64(body) { return .success(bytes) }
        // Digits other than 0-9 (Arabic-Indic, fullwidth) are numbers to Character, not to UInt64.
        return body.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ? .failure(.tooLarge) : .failure(.malformed)
    }

    /// A plain decimal number (`12`, `1.5`), no exponent, no sign but `-`. Infinite when the
    /// digits are beyond the range of a double; callers bound the value.
    static func number(_ s: Substring) -> Double? {
        guard !s.isEmpty, s.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }),
              s.filter({ $0 == "." }).count <= 1, !s.hasSuffix("."), !s.hasPrefix(".") else { return nil }
        return Double(s)
    }

    /// `90`, `12.5`, `0.33`: at most two decimals, no trailing zeros.
    static func trimmed(_ v: Double) -> String { Units.decimal(v, decimals: 2, trimmingZeros: true) }

    /// Kept for Decision.swift (`+1.5/s`); the formatter is `Units.decimal`.
    static func decimal(_ v: Double, _ places: Int) -> String { Units.decimal(v, decimals: places, trimmingZeros: true) }
}
