/// Parses a TOML 1.0 document.
///
/// - Parameters:
///   - text: the whole document. CRLF and LF line endings are accepted; a leading BOM is ignored.
///   - file: the name used in error messages, e.g. `/etc/cgwarden.toml`.
/// - Returns: the root table, entries in source order, every value carrying its location.
/// - Throws: `TOMLError` for the first syntax or structure error, e.g.
///   `cgwarden.toml:7:1: duplicate key 'name' (first defined at line 3)`, and for tables and
///   arrays nested more than 128 deep (`Parser.maxNesting`). Time is linear in the input.
public func parseTOML(_ text: String, file: String) throws(TOMLError) -> TOMLTable {
    var parser = Parser(text: text, file: file)
    return try parser.parseDocument()
}

/// Parses a TOML 1.0 document given as the bytes of a file, as `parseTOML(_:file:)` does, after
/// checking they are UTF-8: TOML requires it, and decoding a `String` with replacement would
/// turn a bad byte into U+FFFD silently.
/// - Throws: `TOMLError` naming the line and column of the first ill-formed UTF-8 sequence,
///   or the first syntax or structure error.
public func parseTOML(utf8 bytes: [UInt8], file: String) throws(TOMLError) -> TOMLTable {
    var parser = Parser(bytes: bytes, file: file)
    if let bad = parser.firstInvalidUTF8() {
        throw parser.error("invalid UTF-8: byte 0x\(String(parser.bytes[bad], radix: 16, uppercase: true)) "
                           + "does not start a well-formed character", at: bad)
    }
    return try parser.parseDocument()
}

// MARK: - Mutable tree used while building

/// A table under construction. Only tables that may still be extended are `MTable`s; inline
/// tables and static arrays are stored as finished `TOMLNode`s and can never be reopened.
final class MTable {
    enum Kind {
        /// Created only as the parent of a header, e.g. `a` for `[a.b]`; may be defined later.
        case implicit
        /// Defined by `[header]`, `[[header]]`, or the root / an inline table.
        case header
        /// Created by a dotted key, e.g. `a` for `a.b = 1`.
        case dotted
    }

    enum Item {
        case value(TOMLNode)
        case table(MTable)
        case tableArray(MTableArray)
    }

    struct Slot {
        let keyLocation: TOMLLocation
        let item: Item
    }

    var kind: Kind
    var location: TOMLLocation
    /// Tables and arrays from the root down to this table, itself included (the root is 0).
    let level: Int
    private(set) var order: [String] = []
    private(set) var slots: [String: Slot] = [:]

    init(_ kind: Kind, _ location: TOMLLocation, level: Int) {
        self.kind = kind
        self.location = location
        self.level = level
    }

    subscript(key: String) -> Slot? { slots[key] }

    func add(_ key: String, _ keyLocation: TOMLLocation, _ item: Item) {
        order.append(key)
        slots[key] = Slot(keyLocation: keyLocation, item: item)
    }

    func freeze() -> TOMLTable {
        TOMLTable(order.map { key in
            let slot = slots[key]!
            return TOMLTable.Entry(key: key, keyLocation: slot.keyLocation, node: slot.item.node)
        })
    }
}

final class MTableArray {
    let location: TOMLLocation
    /// Like `MTable.level`; the tables in it are one level deeper.
    let level: Int
    var tables: [MTable] = []
    init(_ location: TOMLLocation, level: Int) {
        self.location = location
        self.level = level
    }
}

extension MTable.Item {
    var node: TOMLNode {
        switch self {
        case .value(let node): node
        case .table(let t): TOMLNode(value: .table(t.freeze()), location: t.location)
        case .tableArray(let a):
            TOMLNode(value: .array(a.tables.map { TOMLNode(value: .table($0.freeze()), location: $0.location) }),
                     location: a.location)
        }
    }

    /// "an integer defined at line 3", "an inline table defined at line 3", ...
    var summary: String {
        let (what, line): (String, Int) = switch self {
        case .value(let n): (n.value.tableValue != nil ? "inline table" : n.value.typeName, n.location.line)
        case .table(let t): ("table", t.location.line)
        case .tableArray(let a): ("array of tables", a.location.line)
        }
        let article = "aeiou".contains(what.first!) ? "an" : "a"
        return "\(article) \(what) defined at line \(line)"
    }
}

// MARK: - Document structure

extension Parser {
    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        let root = MTable(.header, TOMLLocation(line: 1, column: 1), level: 0)
        var current = root
        while true {
            skipWhitespace()
            guard !atEnd else { break }
            let context: String
            if bytes[pos] == UInt8(ascii: "#") || isNewline(pos) {
                context = ""
            } else if bytes[pos] == UInt8(ascii: "[") {
                (current, context) = try parseHeader(root: root)
            } else {
                let key = try parseKeyValue(into: current)
                context = "after value of key '\(key)'"
            }
            skipWhitespace()
            try skipComment()
            guard atEnd || skipNewline() else {
                throw error("expected end of line \(context), found \(describe(pos))", at: pos)
            }
        }
        return root.freeze()
    }

    /// Parses `[a.b]` or `[[a.b]]` and returns the table that following key/values go into.
    private mutating func parseHeader(root: MTable) throws(TOMLError) -> (MTable, String) {
        let start = pos
        let isArray = peek(1) == UInt8(ascii: "[")
        pos += isArray ? 2 : 1
        let parts = try parseKey(maxParts: Parser.maxNesting)
        let name = displayKey(parts.map(\.name))
        guard peek() == UInt8(ascii: "]"), !isArray || peek(1) == UInt8(ascii: "]") else {
            throw error("expected '\(isArray ? "]]" : "]")' to close header '\(name)', found \(describe(pos))", at: pos)
        }
        pos += isArray ? 2 : 1
        let loc = location(start)
        let what = isArray ? "array of tables" : "table"

        // Walk (and create) the super-tables.
        var table = root
        for (i, part) in parts.dropLast().enumerated() {
            switch table[part.name]?.item {
            case nil:
                try checkNesting(table.level + 1, at: part.pos)
                let sub = MTable(.implicit, loc, level: table.level + 1)
                table.add(part.name, location(part.pos), .table(sub))
                table = sub
            case .table(let sub)?:
                table = sub
            case .tableArray(let array)?:
                table = array.tables[array.tables.count - 1]
            case let item?:
                let prefix = displayKey(parts[...i].map(\.name))
                throw error("cannot define \(what) '\(name)': '\(prefix)' is \(item.summary)", at: start)
            }
        }

        let last = parts[parts.count - 1]
        let existing = table[last.name]?.item
        if isArray {
            switch existing {
            case nil:
                try checkNesting(table.level + 2, at: last.pos)
                let array = MTableArray(loc, level: table.level + 1)
                table.add(last.name, location(last.pos), .tableArray(array))
                return (append(to: array, at: loc), "after header '[[\(name)]]'")
            case .tableArray(let array)?:
                try checkNesting(array.level + 1, at: last.pos)
                return (append(to: array, at: loc), "after header '[[\(name)]]'")
            case .value(let n)? where n.value.arrayValue != nil:
                throw error("cannot append to static array '\(name)' defined at line \(n.location.line)", at: start)
            case let item?:
                throw error("cannot define array of tables '\(name)': it is already \(item.summary)", at: start)
            }
        }
        switch existing {
        case nil:
            try checkNesting(table.level + 1, at: last.pos)
            let sub = MTable(.header, loc, level: table.level + 1)
            table.add(last.name, location(last.pos), .table(sub))
            return (sub, "after header '[\(name)]'")
        case .table(let sub)? where sub.kind == .implicit:
            sub.kind = .header
            sub.location = loc
            return (sub, "after header '[\(name)]'")
        case .table(let sub)?:
            let how = sub.kind == .dotted ? " by dotted keys" : ""
            throw error("table '\(name)' already defined\(how) at line \(sub.location.line)", at: start)
        case let item?:
            throw error("cannot define table '\(name)': it is already \(item.summary)", at: start)
        }
    }

    private func checkNesting(_ level: Int, at p: Int) throws(TOMLError) {
        if level > Parser.maxNesting { throw nestingError(at: p) }
    }

    private func append(to array: MTableArray, at loc: TOMLLocation) -> MTable {
        let table = MTable(.header, loc, level: array.level + 1)
        array.tables.append(table)
        return table
    }

    /// Parses `key = value` into `table` and returns the key as written, for messages.
    mutating func parseKeyValue(into table: MTable) throws(TOMLError) -> String {
        // Each part but the last opens a table one level down.
        let parts = try parseKey(maxParts: Parser.maxNesting - table.level + 1)
        let name = displayKey(parts.map(\.name))
        guard peek() == UInt8(ascii: "=") else {
            throw error("expected '=' after key '\(name)', found \(describe(pos))", at: pos)
        }
        pos += 1
        skipWhitespace()
        if atLineEnd || [UInt8(ascii: "#"), UInt8(ascii: ","), UInt8(ascii: "}")].contains(bytes[pos]) {
            throw error("missing value for key '\(name)'", at: pos)
        }
        let node = try parseValue(level: table.level + parts.count)

        // Walk (and create) the tables named by a dotted key. The prefix is only spelt out for an
        // error: building it for every part made a key of n parts cost n² (13 s for 10,000 parts).
        var target = table
        for (i, part) in parts.dropLast().enumerated() {
            func prefix() -> String { displayKey(parts[...i].map(\.name)) }
            switch target[part.name]?.item {
            case nil:
                let sub = MTable(.dotted, location(part.pos), level: target.level + 1)
                target.add(part.name, location(part.pos), .table(sub))
                target = sub
            case .table(let sub)? where sub.kind != .header:
                if sub.kind == .implicit {
                    sub.kind = .dotted
                    sub.location = location(part.pos)
                }
                target = sub
            case .table(let sub)?:
                throw error("cannot use dotted key '\(name)' to extend table '\(prefix())' defined at line \(sub.location.line)",
                            at: parts[0].pos)
            case let item?:
                throw error("cannot define key '\(name)': '\(prefix())' is \(item.summary)", at: parts[0].pos)
            }
        }
        let last = parts[parts.count - 1]
        if let slot = target[last.name] {
            throw error("duplicate key '\(name)' (first defined at line \(slot.keyLocation.line))", at: parts[0].pos)
        }
        target.add(last.name, location(last.pos), .value(node))
        return name
    }

    // MARK: Values

    /// Parses a value; `level` is the one it has if it is an array or an inline table.
    mutating func parseValue(level: Int) throws(TOMLError) -> TOMLNode {
        let loc = location(pos)
        let value: TOMLValue = switch peek() {
        case UInt8(ascii: "\"")?, UInt8(ascii: "'")?: .string(try parseString())
        case UInt8(ascii: "[")?: .array(try parseArray(level: level))
        case UInt8(ascii: "{")?: .table(try parseInlineTable(level: level))
        default: try parseScalar()
        }
        return TOMLNode(value: value, location: loc)
    }

    private mutating func parseArray(level: Int) throws(TOMLError) -> [TOMLNode] {
        let start = pos
        try checkNesting(level, at: start)
        pos += 1
        var items: [TOMLNode] = []
        while true {
            try skipBlank()
            guard !atEnd else { throw error("unterminated array", at: start) }
            if bytes[pos] == UInt8(ascii: "]") { break }
            items.append(try parseValue(level: level + 1))
            try skipBlank()
            guard !atEnd else { throw error("unterminated array", at: start) }
            if bytes[pos] == UInt8(ascii: "]") { break }
            guard bytes[pos] == UInt8(ascii: ",") else {
                throw error("expected ',' or ']' in array, found \(describe(pos))", at: pos)
            }
            pos += 1
        }
        pos += 1
        return items
    }

    /// Parses `{ k = v, ... }` on one line; the result is frozen and can never be extended.
    private mutating func parseInlineTable(level: Int) throws(TOMLError) -> TOMLTable {
        let start = pos
        try checkNesting(level, at: start)
        pos += 1
        let table = MTable(.header, location(start), level: level)
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            pos += 1
            return table.freeze()
        }
        while true {
            skipWhitespace()
            if atLineEnd || bytes[pos] == UInt8(ascii: "#") { throw error("unterminated inline table", at: start) }
            if bytes[pos] == UInt8(ascii: "}") {
                throw error("trailing comma is not allowed in an inline table", at: pos)
            }
            _ = try parseKeyValue(into: table)
            skipWhitespace()
            if atLineEnd || bytes[pos] == UInt8(ascii: "#") { throw error("unterminated inline table", at: start) }
            if bytes[pos] == UInt8(ascii: "}") { break }
            guard bytes[pos] == UInt8(ascii: ",") else {
                throw error("expected ',' or '}' in inline table, found \(describe(pos))", at: pos)
            }
            pos += 1
        }
        pos += 1
        return table.freeze()
    }
}
