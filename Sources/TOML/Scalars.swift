/// Unquoted scalar values: booleans, integers, floats, dates and times.
extension Parser {
    /// Scans an unquoted token and interprets it. The cursor is on its first character.
    mutating func parseScalar() throws(TOMLError) -> TOMLValue {
        let start = pos
        func isTokenChar(_ b: UInt8) -> Bool {
            isBareKeyChar(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
        }
        while let b = peek(), isTokenChar(b) { pos += 1 }
        // A date may be separated from its time by a space: `1979-05-27 07:32:00`.
        if pos - start == 10, bytes[start + 4] == UInt8(ascii: "-"), peek() == 0x20,
           let h1 = peek(1), let h2 = peek(2), isDigit(h1), isDigit(h2), peek(3) == UInt8(ascii: ":") {
            pos += 1
            while let b = peek(), isTokenChar(b) { pos += 1 }
        }
        guard pos > start else { throw error("expected a value, found \(describe(pos))", at: pos) }
        let token = Array(bytes[start..<pos])
        let text = self.text(start..<pos)
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        let digitPrefix = token.prefix { isDigit($0) }.count
        if (digitPrefix == 4 && token.count > 4 && token[4] == UInt8(ascii: "-"))
            || (digitPrefix == 2 && token.count > 2 && token[2] == UInt8(ascii: ":")) {
            return .datetime(try parseDateTime(token, text: text, at: start))
        }
        guard isDigit(token[0]) || token[0] == UInt8(ascii: "+") || token[0] == UInt8(ascii: "-")
            || token[0] == UInt8(ascii: ".") || token[0] == UInt8(ascii: "_") else {
            throw error("invalid value '\(text)' (strings must be quoted)", at: start)
        }
        return try parseNumber(token, text: text, at: start)
    }

    // MARK: Numbers

    private func parseNumber(_ token: [UInt8], text: String, at start: Int) throws(TOMLError) -> TOMLValue {
        func fail(_ reason: String? = nil) -> TOMLError {
            error("invalid number '\(text)'" + (reason.map { ": " + $0 } ?? ""), at: start)
        }
        /// Validates `DIGIT *( DIGIT / "_" DIGIT )` and returns the digits without underscores.
        func digits(_ part: ArraySlice<UInt8>, _ valid: (UInt8) -> Bool, _ missing: String) throws(TOMLError) -> [UInt8] {
            guard !part.isEmpty else { throw fail(missing) }
            var out: [UInt8] = []
            var previousUnderscore = true  // a leading underscore is as bad as a double one
            for b in part {
                if b == UInt8(ascii: "_") {
                    if previousUnderscore { throw fail("underscores must be between digits") }
                    previousUnderscore = true
                } else if valid(b) {
                    out.append(b)
                    previousUnderscore = false
                } else {
                    throw fail()
                }
            }
            if previousUnderscore { throw fail("underscores must be between digits") }
            return out
        }
        func overflow() -> TOMLError { error("integer '\(text)' overflows 64 bits", at: start) }

        var body = token[...]
        let negative = body.first == UInt8(ascii: "-")
        let signed = negative || body.first == UInt8(ascii: "+")
        if signed { body = body.dropFirst() }

        // Hexadecimal, octal and binary integers: unsigned, leading zeros allowed after the prefix.
        if body.count >= 2 && body.first == UInt8(ascii: "0"),
           let radix: UInt64 = [UInt8(ascii: "x"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][body[body.startIndex + 1]] {
            if signed { throw fail("hexadecimal, octal and binary integers cannot have a sign") }
            let ds = try digits(body.dropFirst(2), { hexDigit($0).map { UInt64($0) < radix } ?? false }, "missing digits")
            var value: UInt64 = 0
            for d in ds {
                let (m, o1) = value.multipliedReportingOverflow(by: radix)
                let (s, o2) = m.addingReportingOverflow(UInt64(hexDigit(d)!))
                if o1 || o2 { throw overflow() }
                value = s
            }
            guard value <= UInt64(Int64.max) else { throw overflow() }
            return .integer(Int64(value))
        }

        // Decimal: int-part [ "." frac ] [ ("e" / "E") [sign] exp ]
        let fracStart = body.firstIndex(of: UInt8(ascii: "."))
        let expStart = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let intEnd = [fracStart, expStart].compactMap { $0 }.min() ?? body.endIndex
        let intDigits = try digits(body[..<intEnd], isDigit, intEnd == fracStart ? "missing digits before '.'" : "missing digits")
        if intDigits.count > 1 && intDigits[0] == UInt8(ascii: "0") { throw fail("leading zeros are not allowed") }
        var mantissa = intDigits
        if let f = fracStart {
            if let e = expStart, e < f { throw fail() }
            let frac = try digits(body[(f + 1)..<(expStart ?? body.endIndex)], isDigit, "missing digits after '.'")
            mantissa += [UInt8(ascii: ".")] + frac
        }
        if let e = expStart {
            var exp = body[(e + 1)...]
            var sign: [UInt8] = []
            if let s = exp.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") {
                sign = [s]
                exp = exp.dropFirst()
            }
            mantissa += [UInt8(ascii: "e")] + sign + (try digits(exp, isDigit, "missing digits in exponent"))
        }
        if fracStart != nil || expStart != nil {
            let literal = (negative ? "-" : "") + String(decoding: mantissa, as: UTF8.self)
            guard let value = Double(literal) else { throw fail() }
            guard value.isFinite else { throw error("float '\(text)' is out of range", at: start) }
            return .float(value)
        }
        var magnitude: UInt64 = 0
        for d in intDigits {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d - UInt8(ascii: "0")))
            if o1 || o2 { throw overflow() }
            magnitude = s
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw overflow() }
            return .integer(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { throw overflow() }
        return .integer(Int64(magnitude))
    }

    // MARK: Dates and times

    /// Parses `YYYY-MM-DD`, `HH:MM:SS[.frac]`, or a date and time joined by `T`, `t` or a space,
    /// optionally followed by `Z`/`z` or a `+HH:MM`/`-HH:MM` offset.
    private func parseDateTime(_ t: [UInt8], text: String, at start: Int) throws(TOMLError) -> TOMLDateTime {
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= t.count, t[i..<(i + width)].allSatisfy(isDigit) else { return nil }
            defer { i += width }
            return t[i..<(i + width)].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        func char(_ c: Character) -> Bool {
            guard i < t.count, t[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        func fail(_ what: String, _ reason: String? = nil) -> TOMLError {
            error("invalid \(what) '\(text)'" + (reason.map { ": " + $0 } ?? ""), at: start)
        }
        func time() throws(TOMLError) {
            let begin = i
            guard let h = number(2), char(":"), let m = number(2), char(":"), let s = number(2) else {
                throw fail(begin == 0 ? "time" : "date-time", "expected HH:MM:SS")
            }
            if h > 23 { throw fail("time", "hour must be 00-23") }
            if m > 59 { throw fail("time", "minute must be 00-59") }
            if s > 60 { throw fail("time", "second must be 00-60") }
            if char(".") && number(1) == nil { throw fail("time", "expected digits after '.'") }
            while i < t.count && isDigit(t[i]) { i += 1 }
        }

        let kind: TOMLDateTime.Kind
        if t[2] == UInt8(ascii: ":") {
            try time()
            kind = .localTime
        } else {
            guard let y = number(4), char("-"), let mo = number(2), char("-"), let d = number(2) else {
                throw fail("date", "expected YYYY-MM-DD")
            }
            if mo < 1 || mo > 12 { throw fail("date", "month must be 01-12") }
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
            let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
            if d < 1 || d > days {
                let ym = self.text(start..<(start + 7))
                throw fail("date", "day must be 01-\(days) for \(ym)")
            }
            if i == t.count {
                kind = .localDate
            } else {
                guard char("T") || char("t") || char(" ") else { throw fail("date-time") }
                try time()
                if i == t.count {
                    kind = .localDateTime
                } else if char("Z") || char("z") {
                    kind = .offsetDateTime
                } else {
                    guard char("+") || char("-"), let oh = number(2), char(":"), let om = number(2) else {
                        throw fail("date-time", "expected 'Z' or an offset like +02:00")
                    }
                    if oh > 23 || om > 59 { throw fail("date-time", "offset must be between -23:59 and +23:59") }
                    kind = .offsetDateTime
                }
            }
        }
        if i != t.count { throw fail(kind == .localTime ? "time" : kind == .localDate ? "date" : "date-time") }
        return TOMLDateTime(text: text, kind: kind)
    }
}
