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

    /// A number with a fixed count of decimals, no Foundation (`String(format:)` pulls ICU).
    public static func decimal(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        return fixed((value * scale).rounded(), decimals: decimals)
    }

    /// `scaledInteger` holds value * 10^decimals, already rounded. Beyond
    /// 64-bit fixed point (forged input only) the value is shown in exponent form.
    static func fixed(_ scaledInteger: Double, decimals: Int) -> String {
        guard scaledInteger.isFinite else { return scaledInteger.isNaN ? "nan" : scaledInteger < 0 ? "-inf" : "inf" }
        guard abs(scaledInteger) < 9e18 else {
            var scale = 1.0
            for _ in 0..<decimals { scale *= 10 }
            return String(scaledInteger / scale)
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
