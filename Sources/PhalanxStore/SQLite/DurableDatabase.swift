import Foundation
import GRDB
import GRDBSQLite

/// Opens an SQLite file for durable writes the way every Phalanx store needs it: its folder
/// created, WAL (GRDB's `DatabasePool`), a busy timeout, `synchronous = FULL` on the writer, and the
/// store's migrations run.
///
/// GRDB's WAL set-up leaves the writer connection at `synchronous = NORMAL` (no fsync at commit)
/// after any `prepareDatabase` has run, so `FULL` is set on the writer after opening;
/// ``synchronousMode(of:)`` reads it back through the writer.
enum DurableDatabase {
    /// Opens `path`; a failure names `what` is stored there and the `setting` that chose the folder.
    /// A file SQLite can open only for reading is refused.
    static func open(path: String, label: String, migrator: DatabaseMigrator, what: String, setting: String) throws(LedgerError) -> DatabasePool {
        do {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.label = label
            configuration.busyMode = .timeout(5)
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try migrator.migrate(pool)
            // SQLite falls back to read-only when it cannot open the file for writing (permissions,
            // an immutable file, a read-only mount): every write would then fail, so refuse it now.
            if pool.writeWithoutTransaction({ db in sqlite3_db_readonly(db.sqliteConnection, "main") == 1 }) {
                throw ReadOnlyFile()
            }
            return pool
        } catch {
            throw LedgerError("cannot open the \(what) \(path): \(error); \(advice(for: error, path: path, setting: setting))")
        }
    }

    /// The file opened, but only for reading.
    struct ReadOnlyFile: Error, CustomStringConvertible {
        var description: String { "SQLite could open it only for reading" }
    }

    /// What to do about a failure to open `path`: a damaged file is not a wrong folder.
    static func advice(for error: any Error, path: String, setting: String) -> String {
        if error is ReadOnlyFile {
            return "make the file and its -wal and -shm files writable by this process (permissions, chattr -i, a read-only mount)"
        }
        if let error = error as? DatabaseError, [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(error.resultCode) {
            return "the file is damaged or is not an SQLite database: restore it from a backup, or move it (with its -wal and -shm files) aside to start with an empty store, which loses what it held"
        }
        return "check \(setting) (it must be a writable folder)"
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    static func synchronousMode(of pool: DatabasePool) throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Writes `count` changes in one transaction with `body` (durable when this returns); a
    /// failure names the store (`what`, at `path`).
    static func write(
        _ count: Int, to what: String, at path: String, in pool: DatabasePool, _ body: @escaping @Sendable (Database) throws -> Void
    ) async throws(LedgerError) {
        guard count > 0 else { return }
        do {
            try await pool.write { db in try body(db) }
        } catch {
            throw writeFailure(count, to: what, at: path, error)
        }
    }

    /// ``write(_:to:at:in:_:)`` on the calling thread (a group commit's own; SQLite blocks anyway).
    static func writeBlocking(_ count: Int, to what: String, at path: String, in pool: DatabasePool, _ body: (Database) throws -> Void) throws(LedgerError) {
        guard count > 0 else { return }
        do {
            try pool.write { db in try body(db) }
        } catch {
            throw writeFailure(count, to: what, at: path, error)
        }
    }

    private static func writeFailure(_ count: Int, to what: String, at path: String, _ error: any Error) -> LedgerError {
        LedgerError("cannot write \(count) changes to the \(what) \(path): \(error)")
    }

    /// Runs raw SQL: for tests that plant damage behind a node's back.
    static func execute(_ sql: String, in pool: DatabasePool) throws {
        try pool.write { db in try db.execute(sql: sql) }
    }
}
