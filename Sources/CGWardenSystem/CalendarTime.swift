#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock nanoseconds as a calendar tells them (the C library's
/// `gmtime_r`, `localtime_r`, `mktime`, `timegm`; the local zone is read
/// from TZ or /etc/localtime): for what a human reads and types.
public enum CalendarTime {
    public struct Fields: Equatable, Sendable {
        public var year, month, day, hour, minute, second: Int
        /// Seconds east of UTC in force at that time (0 for UTC).
        public var utcOffset: Int

        public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, utcOffset: Int = 0) {
            self.year = year
            self.month = month
            self.day = day
            self.hour = hour
            self.minute = minute
            self.second = second
            self.utcOffset = utcOffset
        }
    }

    static func fields(_ t: tm) -> Fields {
        Fields(year: Int(t.tm_year) + 1900, month: Int(t.tm_mon) + 1, day: Int(t.tm_mday), hour: Int(t.tm_hour),
               minute: Int(t.tm_min), second: Int(t.tm_sec), utcOffset: t.tm_gmtoff)
    }

    public static func utc(_ wallNanos: UInt64) -> Fields {
        var seconds = time_t(clamping: wallNanos / 1_000_000_000)
        var t = tm()
        gmtime_r(&seconds, &t)
        return fields(t)
    }

    public static func local(_ wallNanos: UInt64) -> Fields {
        var seconds = time_t(clamping: wallNanos / 1_000_000_000)
        var t = tm()
        localtime_r(&seconds, &t)
        return fields(t)
    }

    /// The wall-clock nanoseconds of a calendar time, in the local zone
    /// (`utc`: false) or in UTC; nil before 1970 or for a date the calendar
    /// does not have (February 30th).
    public static func nanoseconds(_ f: Fields, utc: Bool) -> UInt64? {
        guard (1...12).contains(f.month), (1...31).contains(f.day), (0...23).contains(f.hour), (0...59).contains(f.minute),
              (0...60).contains(f.second), (1970...9999).contains(f.year) else { return nil }
        var t = tm()
        t.tm_year = Int32(f.year - 1900)
        t.tm_mon = Int32(f.month - 1)
        t.tm_mday = Int32(f.day)
        t.tm_hour = Int32(f.hour)
        t.tm_min = Int32(f.minute)
        t.tm_sec = Int32(f.second)
        t.tm_isdst = -1
        let seconds = utc ? timegm(&t) : mktime(&t)
        // mktime normalises February 30th into March 2nd: refused.
        guard seconds >= 0, Int(t.tm_mday) == f.day, Int(t.tm_mon) == f.month - 1 else { return nil }
        return UInt64(seconds) * 1_000_000_000
    }

    /// `20261201T100000Z`: a UTC time in a file name.
    public static func compactUTC(_ wallNanos: UInt64) -> String {
        let f = utc(wallNanos)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(f.year)\(two(f.month))\(two(f.day))T\(two(f.hour))\(two(f.minute))\(two(f.second))Z"
    }
}
