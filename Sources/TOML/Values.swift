/// A 1-based position in a TOML source. Columns count Unicode scalars, so a tab counts as one.
public struct TOMLLocation: Sendable, Hashable, CustomStringConvertible {
    /// 1-based line number.
    public let line: Int
    /// 1-based column, in Unicode scalars from the start of the line.
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `line:column`.
    public var description: String { "\(line):\(column)" }
}

/// A TOML date, time or date-time, kept as the validated text it was written as.
public struct TOMLDateTime: Sendable, Hashable, CustomStringConvertible {
    /// Which of the four TOML date/time types this is.
    public enum Kind: String, Sendable, Hashable {
        case offsetDateTime = "offset date-time"
        case localDateTime = "local date-time"
        case localDate = "local date"
        case localTime = "local time"
    }

    /// The text exactly as written, e.g. `1979-05-27T07:32:00Z` or `1979-05-27 07:32:00`.
    public let text: String
    /// The kind of value `text` denotes.
    public let kind: Kind

    public init(text: String, kind: Kind) {
        self.text = text
        self.kind = kind
    }

    public var description: String { text }
}

/// A TOML value. Tables and arrays hold `TOMLNode`s so every nested value keeps its location.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case datetime(TOMLDateTime)
    case array([TOMLNode])
    case table(TOMLTable)

    /// A human-readable type name for error messages: "string", "integer", "float", "boolean",
    /// "offset date-time", "local date-time", "local date", "local time", "array" or "table".
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .datetime(let d): d.kind.rawValue
        case .array: "array"
        case .table: "table"
        }
    }

    /// The payload if this is a `.string`, else nil.
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    /// The payload if this is an `.integer`, else nil.
    public var integerValue: Int64? { if case .integer(let v) = self { v } else { nil } }
    /// The payload if this is a `.float`, else nil (integers are not converted).
    public var floatValue: Double? { if case .float(let v) = self { v } else { nil } }
    /// The payload if this is a `.bool`, else nil.
    public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }
    /// The payload if this is a `.datetime`, else nil.
    public var datetimeValue: TOMLDateTime? { if case .datetime(let v) = self { v } else { nil } }
    /// The elements if this is an `.array` (including an array of tables), else nil.
    public var arrayValue: [TOMLNode]? { if case .array(let v) = self { v } else { nil } }
    /// The table if this is a `.table`, else nil.
    public var tableValue: TOMLTable? { if case .table(let v) = self { v } else { nil } }
}

/// A value together with the place it was written.
///
/// For scalars, strings and arrays the location is the value's first character. For a table it
/// is the `[` of the header (or `[[` for an array-of-tables element) that defined it, the `{` of
/// an inline table, or the key of the first dotted key that defined it. A table only implied by
/// a deeper header (`[a]` for `[a.b]`) carries that header's location until it is defined.
public struct TOMLNode: Sendable, Equatable {
    public let value: TOMLValue
    public let location: TOMLLocation

    public init(value: TOMLValue, location: TOMLLocation) {
        self.value = value
        self.location = location
    }

    /// Looks up `key` if this node is a table; nil otherwise.
    public subscript(key: String) -> TOMLNode? { value.tableValue?[key] }
}

/// A TOML table whose entries keep their source order.
public struct TOMLTable: Sendable, Equatable {
    /// One key of a table.
    public struct Entry: Sendable, Equatable {
        /// The unescaped key (one segment of a dotted key).
        public let key: String
        /// Where the key was first written.
        public let keyLocation: TOMLLocation
        /// The value and its location.
        public let node: TOMLNode

        public init(key: String, keyLocation: TOMLLocation, node: TOMLNode) {
            self.key = key
            self.keyLocation = keyLocation
            self.node = node
        }
    }

    /// Entries in the order their keys first appeared in the source.
    public let entries: [Entry]
    private let index: [String: Int]

    /// Builds a table from entries; if a key repeats, lookups find the first one.
    public init(_ entries: [Entry] = []) {
        self.entries = entries
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() where index[e.key] == nil { index[e.key] = i }
        self.index = index
    }

    /// The node stored under `key`, or nil.
    public subscript(key: String) -> TOMLNode? { index[key].map { entries[$0].node } }
    /// The entry stored under `key`, or nil.
    public func entry(_ key: String) -> Entry? { index[key].map { entries[$0] } }
    /// Keys in source order.
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
}

/// A TOML syntax or structure error, naming the file, the position and (where there is one) the key.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let location: TOMLLocation
    public let message: String

    public init(file: String, location: TOMLLocation, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    /// `file:line:column: message`.
    public var description: String { "\(file):\(location.line):\(location.column): \(message)" }
}
