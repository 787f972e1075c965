import Foundation
import GRDB
import GRDBSQLite

/// One run of a cached statement whose values are bound with SQLite's own calls.
///
/// GRDB's `StatementArguments` box every value in an existential and copy blobs into `Data`: at
/// 25,000 tasks/s that was about a fifth of the ledger writer's time. The task ledger's two hot
/// statements (insert a task, update a task) and the participant store's (a prepared record, an
/// outcome, a value) bind here instead, in parameter order. Values are bound
/// transient (SQLite copies them before the call returns); ``execute()`` steps the statement to its
/// end, then resets it and clears its bindings, the state GRDB leaves its cached statements in.
///
/// It bypasses GRDB's bookkeeping around a statement (transaction observers, its check for an
/// aborted transaction, evicting a failed statement from the cache). That is sound for both stores:
/// they register no observers, and a failed write fails the whole group commit, which stops the
/// coordinator or the participant. Revisit this before adding an observer or retrying a failed write.
struct BoundStatement: ~Copyable {
    private let statement: Statement
    private let database: Database
    private var index: CInt = 0
    /// The first binding SQLite refused (out of memory, too big), reported by ``execute()``.
    private var bindingFailure: CInt = SQLITE_OK

    init(_ statement: Statement, in database: Database) {
        self.statement = statement
        self.database = database
    }

    /// SQLite copies a value bound with this destructor (`SQLITE_TRANSIENT`, a macro Swift does not import).
    private static var transient: sqlite3_destructor_type { unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self) }

    private mutating func next() -> CInt {
        index += 1
        return index
    }

    private mutating func check(_ code: CInt) {
        if code != SQLITE_OK && bindingFailure == SQLITE_OK { bindingFailure = code }
    }

    mutating func bind(_ value: Int64?) {
        let position = next()
        check(value.map { sqlite3_bind_int64(statement.sqliteStatement, position, $0) } ?? sqlite3_bind_null(statement.sqliteStatement, position))
    }

    mutating func bind(_ value: String?) {
        let position = next()
        guard let value else {
            check(sqlite3_bind_null(statement.sqliteStatement, position))
            return
        }
        let length = CInt(value.utf8.count)
        check(value.withCString { sqlite3_bind_text(statement.sqliteStatement, position, $0, length, Self.transient) })
    }

    /// Binds bytes (`[UInt8]`, `Data`) as a blob; empty bytes are an empty blob, not NULL (a nil
    /// pointer would bind NULL).
    mutating func bind(_ bytes: (some ContiguousBytes)?) {
        let position = next()
        guard let bytes else {
            check(sqlite3_bind_null(statement.sqliteStatement, position))
            return
        }
        check(bytes.withUnsafeBytes { raw in
            raw.isEmpty
                ? sqlite3_bind_zeroblob(statement.sqliteStatement, position, 0)
                : sqlite3_bind_blob(statement.sqliteStatement, position, raw.baseAddress, CInt(raw.count), Self.transient)
        })
    }

    /// Runs the statement to its end; throws SQLite's error, naming the statement.
    consuming func execute() throws {
        let sqliteStatement = statement.sqliteStatement
        defer {
            sqlite3_reset(sqliteStatement)
            sqlite3_clear_bindings(sqliteStatement)
        }
        precondition(index == sqlite3_bind_parameter_count(sqliteStatement), "bound \(index) of \(sqlite3_bind_parameter_count(sqliteStatement)) parameters")
        guard bindingFailure == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: bindingFailure), message: "SQLite refused a value bound to the statement", sql: statement.sql)
        }
        var code = sqlite3_step(sqliteStatement)
        while code == SQLITE_ROW { code = sqlite3_step(sqliteStatement) }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage, sql: statement.sql)
        }
    }
}
