import CSQLite

/// A failed SQLite call: what was being done, SQLite's result code (primary
/// and extended) and its message (`sqlite3_errmsg`).
public struct SQLiteError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    /// The extended result code (`SQLITE_READONLY_DBMOVED`...); `code & 0xff` is the primary one.
    public var extendedCode: Int32
    public var message: String

    public init(operation: String, extendedCode: Int32, message: String) {
        self.operation = operation
        self.extendedCode = extendedCode
        self.message = message
    }

    public var code: Int32 { extendedCode & 0xff }

    /// What the store does about it differs by kind: a full disk or a busy
    /// lock passes, a corrupt file is moved aside.
    public enum Kind: Equatable, Sendable {
        case full, readOnly, busy, corrupt, cannotOpen, permission, io, other
    }

    public var kind: Kind {
        switch code {
        case SQLITE_FULL: return .full
        case SQLITE_READONLY: return .readOnly
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy
        case SQLITE_CORRUPT, SQLITE_NOTADB: return .corrupt
        case SQLITE_CANTOPEN: return .cannotOpen
        case SQLITE_PERM, SQLITE_AUTH: return .permission
        case SQLITE_IOERR: return .io
        default: return .other
        }
    }

    /// `SQLITE_FULL`, `SQLITE_IOERR_WRITE`: the library's own name for the code.
    public var codeName: String { String(cString: sqlite3_errstr(extendedCode)) }

    public var description: String { "\(operation): \(message) (SQLite error \(extendedCode): \(codeName))" }
}

/// A value bound to a statement or read from a row. Unsigned 64-bit counters
/// are stored as their bit pattern (SQLite integers are signed): 2^64-1 comes
/// back as it went in.
public enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    public static func unsigned(_ v: UInt64?) -> SQLiteValue { v.map { .integer(Int64(bitPattern: $0)) } ?? .null }
    public static func signed(_ v: Int64?) -> SQLiteValue { v.map { .integer($0) } ?? .null }
    public static func string(_ v: String?) -> SQLiteValue { v.map { .text($0) } ?? .null }
    public static func bytes(_ v: [UInt8]?) -> SQLiteValue { v.map { .blob($0) } ?? .null }
}

/// One connection (`sqlite3*`), used by one thread at a time (opened
/// `SQLITE_OPEN_NOMUTEX`: the store gives each thread its own connection).
public final class SQLiteDatabase {
    let handle: OpaquePointer
    public let path: String
    public let readOnly: Bool

    /// Opens `path`; `create`: make it when missing (read-write only).
    public init(path: String, readOnly: Bool, create: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE)
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let extended = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw SQLiteError(operation: "open \(path)", extendedCode: extended, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
        self.path = path
        self.readOnly = readOnly
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ operation: String, _ rc: Int32) -> SQLiteError {
        // errmsg describes the last failing call on this connection; errstr the code alone.
        let ext = sqlite3_extended_errcode(handle)
        let code = (ext & 0xff) == (rc & 0xff) ? ext : rc
        let message = (ext & 0xff) == (rc & 0xff) ? String(cString: sqlite3_errmsg(handle)) : String(cString: sqlite3_errstr(rc))
        return SQLiteError(operation: operation, extendedCode: code, message: message)
    }

    /// Runs statements that return no rows (or whose rows are not wanted);
    /// an error names `operation`, or the statement's first words.
    public func execute(_ sql: String, as operation: String? = nil) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(operation ?? Self.operation(sql), rc) }
    }

    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error("prepare " + Self.operation(sql), rc) }
        return SQLiteStatement(stmt, database: self, sql: sql)
    }

    /// One integer: `PRAGMA user_version`, `SELECT count(*) ...`.
    public func integer(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteError) -> Int64? {
        let s = try prepare(sql)
        try s.bind(values)
        guard try s.step() else { return nil }
        return s.int64(0)
    }

    /// `body` between `BEGIN IMMEDIATE` and `COMMIT` (the write lock taken at
    /// once, so that a busy store fails at the start, not halfway); rolled
    /// back if it throws.
    public func transaction<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has rolled back already.
            if sqlite3_get_autocommit(handle) == 0 { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Milliseconds SQLite retries a locked database before `SQLITE_BUSY`.
    public func setBusyTimeout(milliseconds: Int32) { sqlite3_busy_timeout(handle, milliseconds) }

    /// Keeps the -wal and -shm files when the last connection closes
    /// (`SQLITE_FCNTL_PERSIST_WAL`): they stay the writer's, and a reader
    /// never has to create them.
    public func persistWAL() {
        var on: Int32 = 1
        _ = sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &on)
    }

    /// The statement's first words, for an error message.
    static func operation(_ sql: String) -> String {
        let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" }).prefix(4).joined(separator: " ")
        return words.count > 60 ? String(words.prefix(60)) + "…" : words
    }

    /// The library's version (`3.40.1`).
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// An address inside the SQLite library (its version string, a constant
    /// of the library's own): where its pages are found (`LibraryPages`).
    public static var libraryAddress: UnsafeRawPointer { UnsafeRawPointer(sqlite3_libversion()) }
}

/// A prepared statement (`sqlite3_stmt*`) with its bound values.
public final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let database: SQLiteDatabase
    let sql: String

    init(_ handle: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// Resets the statement and binds `values` to ?1, ?2...
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
            case .text(let s): rc = sqlite3_bind_text(handle, index, s, -1, cgw_sqlite_transient())
            case .blob(let b):
                rc = b.withUnsafeBytes { sqlite3_bind_blob64(handle, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                                              sqlite3_uint64($0.count), cgw_sqlite_transient()) }
            }
            if rc != SQLITE_OK { throw database.error("bind ?\(index) of " + SQLiteDatabase.operation(sql), rc) }
        }
    }

    /// The next row: true when there is one, false when done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let e = database.error(SQLiteDatabase.operation(sql), rc)
            sqlite3_reset(handle)
            throw e
        }
    }

    /// Binds, steps to the end, resets: a statement that returns no rows.
    public func run(_ values: [SQLiteValue]) throws(SQLiteError) {
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64? { isNull(column) ? nil : sqlite3_column_int64(handle, column) }

    public func uint64(_ column: Int32) -> UInt64? { int64(column).map { UInt64(bitPattern: $0) } }

    public func text(_ column: Int32) -> String? {
        guard !isNull(column), let p = sqlite3_column_text(handle, column) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    public func blob(_ column: Int32) -> [UInt8]? {
        guard !isNull(column) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, column))
        guard n > 0, let p = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    public func reset() { sqlite3_reset(handle) }
}
