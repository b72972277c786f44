/// Durations as the configuration and the command line write them, and the
/// one place where a `Duration` becomes nanoseconds or milliseconds.
extension Duration {
    /// The longest duration a configuration or an option may give:
    /// `Int64.max` nanoseconds, about 292 years. Below it, a duration added
    /// to a monotonic timestamp or turned into an `Int64` timeout never traps.
    public static let maximum = Duration.nanoseconds(Int64.max)

    /// Rounded to whole nanoseconds; saturates: negative or NaN is zero,
    /// beyond `maximum` is `maximum` (`.seconds(_: Double)` would trap on infinity).
    public static func seconds(saturating seconds: Double) -> Duration {
        let nanoseconds = seconds * 1e9
        guard nanoseconds > 0 else { return .zero }
        // Double(Int64.max) is 2^63; every double below it converts.
        guard nanoseconds < Double(Int64.max) else { return .maximum }
        return .nanoseconds(Int64(nanoseconds.rounded()))
    }

    /// Saturates at `maximum`.
    public static func milliseconds(saturating milliseconds: UInt64) -> Duration {
        let (product, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        return overflow || product > UInt64(Int64.max) ? .maximum : .nanoseconds(product)
    }

    /// Whole nanoseconds (toward zero), held to 0...UInt64.max (negative is
    /// 0): the unit of snapshot timestamps.
    public var nanosecondsClamped: UInt64 {
        if self <= .zero { return 0 }
        let (seconds, attoseconds) = components
        let (whole, o1) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, o2) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return o1 || o2 ? .max : sum
    }

    /// Whole milliseconds (toward zero), held to 0...UInt64.max (negative is 0).
    public var millisecondsClamped: UInt64 {
        if self <= .zero { return 0 }
        let (seconds, attoseconds) = components
        let (whole, o1) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        let (sum, o2) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000_000_000))
        return o1 || o2 ? .max : sum
    }

    /// Seconds as a double (`nanosecondsClamped / 1e9`): for JSON and rates.
    public var totalSeconds: Double { Double(nanosecondsClamped) / 1e9 }

    /// `500ms`, `10s`, `1.5s`, `5m`, `2h`: the largest unit that shows it
    /// exactly, else seconds with one decimal. What configuration errors,
    /// reports and option defaults show (Swift's own description is `1.5 seconds`).
    public var text: String {
        if self < .zero { return "-" + (.zero - self).text }
        let (seconds, attoseconds) = components
        let subsecond = UInt64(attoseconds / 1_000_000_000)
        let (whole, o1) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (ns, o2) = whole.addingReportingOverflow(subsecond)
        if !o1 && !o2 { return Duration.text(nanoseconds: ns) }
        // Beyond 2^64 nanoseconds (584 years): whole units from the seconds.
        let s = UInt64(seconds)
        if subsecond == 0 && s % 3600 == 0 { return "\(s / 3600)h" }
        if subsecond == 0 && s % 60 == 0 { return "\(s / 60)m" }
        if subsecond == 0 { return "\(s)s" }
        return Units.decimal(Double(s) + Double(subsecond) / 1e9, decimals: 1, trimmingZeros: true) + "s"
    }

    static func text(nanoseconds ns: UInt64) -> String {
        if ns == 0 { return "0s" }
        if ns % 3_600_000_000_000 == 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 && ns < 1_000_000_000 { return "\(ns / 1_000_000)ms" }
        return Units.decimal(Double(ns) / 1e9, decimals: 1, trimmingZeros: true) + "s"
    }

    /// Parses `500ms`, `30s`, `1.5s`, `5m`, `1h`, `30d`; a plain number is not accepted
    /// (a unit is required, so that `for = 10` cannot mean 10 ms by surprise).
    public static func parse(_ text: String) -> Duration? { try? parsing(text).get() }

    /// As `parse`, telling a duration longer than `maximum` from text that is no duration at all.
    public static func parsing(_ text: String) -> Result<Duration, QuantityError> {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86_400e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            // "5m" must not be read as "5" + "m" of "ms": ms is tried first.
            guard let value = Units.plainNumber(text.dropLast(suffix.count)), value >= 0 else { return .failure(.malformed) }
            let nanoseconds = (value * scale).rounded()
            // Double(Int64.max) is 2^63; every double below it converts.
            guard nanoseconds < Double(Int64.max) else { return .failure(.tooLarge) }
            return .success(.nanoseconds(Int64(nanoseconds)))
        }
        return .failure(.malformed)
    }
}

/// Why a size, duration or percentage was refused.
public enum QuantityError: Error, Equatable, Sendable {
    /// Not written as one (`12Q`, `10 s`, `1e3M`).
    case malformed
    /// Well written, but beyond what the value can hold (sizes: 64-bit bytes; durations:
    /// `Duration.maximum`; percentages: a finite double).
    case tooLarge
}

extension Units {
    /// A plain decimal number (`12`, `1.5`), no exponent, no sign but `-`. Infinite when the
    /// digits are beyond the range of a double; callers bound the value.
    public static func plainNumber(_ s: Substring) -> Double? {
        guard !s.isEmpty, s.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }),
              s.filter({ $0 == "." }).count <= 1, !s.hasSuffix("."), !s.hasPrefix(".") else { return nil }
        return Double(s)
    }
}
