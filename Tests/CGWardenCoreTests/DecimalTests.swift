import Testing
import CGWardenCore

/// `Units.decimal`, the one decimal formatter (reports, config messages, benchmarks).
@Suite struct DecimalTests {
    @Test(arguments: [
        // Fixed decimals.
        (1.59, 2, false, "1.59"), (0, 2, false, "0.00"), (100, 2, false, "100.00"), (7, 0, false, "7"),
        (0.05, 2, false, "0.05"), (1234.5678, 1, false, "1234.6"), (0.001, 3, false, "0.001"),
        // The sign is kept, including below one; a value that rounds to zero has none.
        (-0.5, 1, false, "-0.5"), (-0.05, 2, false, "-0.05"), (-12.345, 2, false, "-12.35"), (-3, 0, false, "-3"),
        (-0.04, 1, false, "0.0"), (-0.0, 2, false, "0.00"),
        // Rounding half away from zero, at the last place kept.
        (0.25, 1, false, "0.3"), (-0.25, 1, false, "-0.3"), (2.5, 0, false, "3"), (-2.5, 0, false, "-3"),
        (9.96, 1, false, "10.0"), (0.994, 2, false, "0.99"),
        // Trailing zeros trimmed on request.
        (1.50, 2, true, "1.5"), (2, 1, true, "2"), (-0.5, 1, true, "-0.5"), (-0.04, 1, true, "0"), (90, 2, true, "90"),
        (12.5, 2, true, "12.5"), (100, 0, true, "100"),
        // Large but still fixed-point (scaled below 9e18).
        (1e18, 0, false, "1000000000000000000"), (-8.5e17, 1, false, "-850000000000000000.0"), (123_456_789_012.34, 2, false, "123456789012.34"),
        // No trap: NaN, infinities, and values beyond fixed-point digits.
        (.nan, 2, false, "nan"), (.infinity, 1, false, "inf"), (-.infinity, 1, false, "-inf"),
        (1e300, 2, false, "1e+300"), (-1e300, 2, true, "-1e+300"), (1e20, 0, false, "1e+20"),
        (.greatestFiniteMagnitude, 1, false, "1.7976931348623157e+308"), (1, 400, false, "1.0"),
        // A negative count of decimals is read as none.
        (2.4, -1, false, "2"),
    ] as [(Double, Int, Bool, String)])
    func formats(value: Double, decimals: Int, trimming: Bool, expected: String) {
        #expect(Units.decimal(value, decimals: decimals, trimmingZeros: trimming) == expected)
    }
}
