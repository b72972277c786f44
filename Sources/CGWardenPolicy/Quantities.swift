import CGWardenCore

/// Sizes and percentages as the configuration writes them (durations: `Duration.parsing` in Core).

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
        guard text.hasSuffix("%"), let value = Units.plainNumber(text.dropLast()), value >= 0 else {
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
            guard let value = Units.plainNumber(body.dropLast()), value >= 0 else { return .failure(.malformed) }
            let bytes = (value * Double(unit.1)).rounded()
            guard bytes < 1.8e19 else { return .failure(.tooLarge) }
            return .success(UInt64(bytes))
        }
        guard !body.isEmpty, body.allSatisfy(\.isNumber) else { return .failure(.malformed) }
        if let bytes = UInt64(body) { return .success(bytes) }
        // Digits other than 0-9 (Arabic-Indic, fullwidth) are numbers to Character, not to UInt64.
        return body.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ? .failure(.tooLarge) : .failure(.malformed)
    }

    /// `90`, `12.5`, `0.33`: at most two decimals, no trailing zeros.
    static func trimmed(_ v: Double) -> String { Units.decimal(v, decimals: 2, trimmingZeros: true) }

    /// Kept for Decision.swift (`+1.5/s`); the formatter is `Units.decimal`.
    static func decimal(_ v: Double, _ places: Int) -> String { Units.decimal(v, decimals: places, trimmingZeros: true) }
}
