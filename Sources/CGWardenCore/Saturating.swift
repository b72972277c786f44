/// Arithmetic on kernel values that never traps.
///
/// Swift traps on integer overflow and on converting a Double outside the
/// target's range (or NaN) to an integer. Kernel files, fixture trees and
/// recordings can hold any 64-bit value (a counter at 2^64-1 is valid text),
/// so every sum, product or Double conversion of such values goes through
/// these helpers. Where a result saturates, the caller's comment says why a
/// saturated value is the right answer there.

extension FixedWidthInteger {
    /// The integer nearest to `d` within the type's range, truncating toward
    /// zero: NaN is 0, -inf and anything below `min` is `min`, +inf and
    /// anything at or above `max` is `max`. (`Self(d)` traps on all of those.)
    @inlinable
    public init(saturating d: Double) {
        if d.isNaN {
            self = 0
        } else if d <= Double(Self.min) {
            // Double(min) is exact: 0 or -2^(bits-1).
            self = Self.min
        } else if d >= Double(Self.max) {
            // Double(max) may round up to 2^bits (64-bit types); anything
            // below it converts exactly.
            self = Self.max
        } else {
            self = Self(d)
        }
    }

    /// `self + other`, or `max`/`min` where it would overflow.
    @inlinable
    public func addingSaturated(_ other: Self) -> Self {
        let (r, o) = addingReportingOverflow(other)
        if !o { return r }
        return other > 0 ? Self.max : Self.min
    }

    /// `self - other`, or `min` (0 for unsigned types)/`max` where it would overflow.
    @inlinable
    public func subtractingSaturated(_ other: Self) -> Self {
        let (r, o) = subtractingReportingOverflow(other)
        if !o { return r }
        return other > 0 ? Self.min : Self.max
    }

    /// `self * other`, or `max`/`min` where it would overflow.
    @inlinable
    public func multipliedSaturated(by other: Self) -> Self {
        let (r, o) = multipliedReportingOverflow(by: other)
        if !o { return r }
        return (self < 0) == (other < 0) ? Self.max : Self.min
    }
}
