/// Human units for sizes and percentages (binary units, as the kernel and
/// systemd use: `1G` is 2^30 bytes).
public enum Units {
    static let suffixes = ["K", "M", "G", "T", "P", "E"]

    /// `0`, `512B`, `4.0K`, `512.0M`, `1.5G`: at most 7 characters.
    public static func size(_ bytes: UInt64) -> String {
        if bytes == 0 { return "0" }
        if bytes < 1024 { return "\(bytes)B" }
        var unit = 0
        var scaled = Double(bytes) / 1024
        while scaled >= 1024, unit < suffixes.count - 1 {
            scaled /= 1024
            unit += 1
        }
        // one decimal, rounded half up; 1023.96K shows as 1.0M, not 1024.0K
        var tenths = (scaled * 10).rounded()
        if tenths >= 10240, unit < suffixes.count - 1 {
            unit += 1
            tenths = (scaled / 1024 * 10).rounded()
        }
        return fixed(tenths, decimals: 1) + suffixes[unit]
    }

    /// A limit: `max` or its size.
    public static func limit(_ l: Limit?) -> String {
        switch l {
        case nil: return "-"
        case .max?: return "max"
        case .bytes(let b)?: return size(b)
        }
    }

    /// A fraction as a whole percentage in at most 4 characters: `0.594` ->
    /// `59%`; ten times the limit or more (only seen in forged input) -> `>10x`.
    public static func percent(_ fraction: Double) -> String {
        let p = (fraction * 100).rounded()
        if !p.isFinite || p > 999 { return ">10x" }
        return String(Int(max(p, 0))) + "%"
    }

    /// `value` with `decimals` digits after the point, rounded half away from zero, sign kept
    /// (`-0.5`; a value that rounds to zero prints without one). No Foundation: `String(format:)`
    /// pulls ICU. The one decimal formatter of the project: reports, config messages, benchmarks.
    ///
    /// - Parameter trimmingZeros: drop trailing zeros and a bare point (`1.50` -> `1.5`, `2.0` -> `2`).
    /// - Returns: for NaN, infinities and values too large for fixed-point digits (beyond 9e18
    ///   once scaled), `nan`, `inf`, `-inf` or Swift's shortest form (`1e+300`); never traps.
    public static func decimal(_ value: Double, decimals: Int, trimmingZeros: Bool = false) -> String {
        let places = max(0, decimals)
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard scaled.isFinite, abs(scaled) < 9e18 else { return special(value) }
        let text = fixed(scaled, decimals: places)
        guard trimmingZeros, places > 0 else { return text }
        var trimmed = Substring(text)
        while trimmed.hasSuffix("0") { trimmed.removeLast() }
        if trimmed.hasSuffix(".") { trimmed.removeLast() }
        return String(trimmed)
    }

    /// `nan`, `inf`, `-inf`, or the shortest round-trip form of a finite value.
    static func special(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return value.description
    }

    /// `scaledInteger` holds value * 10^decimals, already rounded. Beyond
    /// 64-bit fixed point (forged input only) the value is shown in exponent form.
    static func fixed(_ scaledInteger: Double, decimals: Int) -> String {
        guard scaledInteger.isFinite else { return special(scaledInteger) }
        guard abs(scaledInteger) < 9e18 else {
            var scale = 1.0
            for _ in 0..<decimals { scale *= 10 }
            return special(scaledInteger / scale)
        }
        let v = Int64(scaledInteger)
        let neg = v < 0
        var digits = String(v.magnitude)
        if decimals == 0 { return (neg ? "-" : "") + digits }
        if digits.count <= decimals {
            digits = String(repeating: "0", count: decimals - digits.count + 1) + digits
        }
        let cut = digits.index(digits.endIndex, offsetBy: -decimals)
        return (neg ? "-" : "") + digits[..<cut] + "." + digits[cut...]
    }
}

extension Units {
    /// UTC time of a wall-clock timestamp, ISO 8601 with milliseconds
    /// (`2026-11-27T02:50:13.250Z`), without Foundation.
    public static func isoTime(wallNanos: UInt64) -> String {
        let secs = Int64(wallNanos / 1_000_000_000)
        let millis = Int((wallNanos / 1_000_000) % 1000)
        var days = secs / 86_400
        let rem = Int(secs % 86_400)
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        days += 719_468
        let era = days / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(y)-\(two(m))-\(two(d))T\(two(rem / 3600)):\(two(rem % 3600 / 60)):\(two(rem % 60)).\(ms)Z"
    }
}
