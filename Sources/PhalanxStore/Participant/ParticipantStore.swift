import Foundation
import GRDB
import PhalanxCore

/// One change to a participant's store, made durable through a ``GroupCommit``.
public enum ParticipantChange: Sendable, Hashable {
    /// A transaction's prepared write set (and its locks, which are rebuilt from it at restart).
    case prepared(ParticipantMachine.Prepared)
    /// The decision: on commit the write set is applied; the prepared record goes either way and
    /// the outcome joins the history.
    case outcome(id: String, committed: Bool, writes: [KeyWrite], unixMilliseconds: Int64)

    public var approximateBytes: Int {
        switch self {
        case .prepared(let record): record.writes.reduce(96) { $0 + $1.key.utf8.count * 2 + 64 }
        case .outcome(_, _, let writes, _): writes.reduce(64) { $0 + $1.key.utf8.count * 2 + 64 }
        }
    }
}

/// A worker's transaction participant store in one SQLite file (`participant.sqlite` in the
/// worker's data directory; WAL, `synchronous = FULL` on the writer): committed values, prepared
/// transactions, and the history of outcomes that the audit checks the values against.
public final class ParticipantStore: Sendable {
    public let path: String
    private let pool: DatabasePool

    public init(path: String) throws(LedgerError) {
        self.path = path
        do {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.label = "phalanx.participant"
            configuration.busyMode = .timeout(5)
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
        } catch {
            throw LedgerError("cannot open the participant store \(path): \(error); check worker.data_dir (it must be a writable folder)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE value (key TEXT PRIMARY KEY NOT NULL, value_json BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE prepared (id TEXT PRIMARY KEY NOT NULL, record_json BLOB NOT NULL, prepared_ms INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE applied (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    committed INTEGER NOT NULL,
                    writes_json BLOB NOT NULL,
                    applied_ms INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    public func writerSynchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Makes `changes` durable in one transaction, in order.
    public func apply(_ changes: [ParticipantChange]) async throws(LedgerError) {
        guard !changes.isEmpty else { return }
        do {
            try await pool.write { db in
                let encoder = JSONEncoder()
                for change in changes {
                    switch change {
                    case .prepared(let record):
                        var durable = record
                        durable.durable = true
                        try db.cachedStatement(sql: "INSERT OR REPLACE INTO prepared (id, record_json, prepared_ms) VALUES (?, ?, ?)")
                            .execute(arguments: [record.id, try encoder.encode(durable), record.preparedUnixMilliseconds])
                    case .outcome(let id, let committed, let writes, let at):
                        try db.cachedStatement(sql: "DELETE FROM prepared WHERE id = ?").execute(arguments: [id])
                        try db.cachedStatement(sql: "INSERT OR IGNORE INTO applied (id, committed, writes_json, applied_ms) VALUES (?, ?, ?, ?)")
                            .execute(arguments: [id, committed ? 1 : 0, try encoder.encode(writes), at])
                        guard committed, db.changesCount > 0 else { continue }  // a duplicate outcome applies nothing twice
                        for write in writes {
                            if let after = write.after {
                                try db.cachedStatement(sql: "INSERT OR REPLACE INTO value (key, value_json) VALUES (?, ?)")
                                    .execute(arguments: [write.key, try encoder.encode(after)])
                            } else {
                                try db.cachedStatement(sql: "DELETE FROM value WHERE key = ?").execute(arguments: [write.key])
                            }
                        }
                    }
                }
            }
        } catch {
            throw LedgerError("cannot write \(changes.count) changes to the participant store \(path): \(error)")
        }
    }

    /// What a participant starts from: committed values, prepared transactions, recent outcomes.
    public func load(recentOutcomes: Int = ParticipantMachine.rememberedOutcomes) async throws(LedgerError) -> (
        values: [String: StoredValue], prepared: [ParticipantMachine.Prepared], finished: [(id: String, committed: Bool)]
    ) {
        do {
            return try await pool.read { db in
                let values = try Self.values(db)
                let prepared = try Self.prepared(db)
                let finished = try Row.fetchAll(db, sql: "SELECT id, committed FROM applied ORDER BY seq DESC LIMIT ?", arguments: [recentOutcomes])
                    .reversed().map { (id: $0["id"] as String, committed: ($0["committed"] as Int64) != 0) }
                return (values, prepared, finished)
            }
        } catch {
            throw LedgerError("cannot read the participant store \(path): \(error)")
        }
    }

    /// The whole store as the audit reads it (offline, or merged with the machine's in-memory state online).
    public func snapshot(node: String) async throws(LedgerError) -> ParticipantSnapshot {
        do {
            return try await pool.read { db in
                ParticipantSnapshot(node: node, values: try Self.values(db), prepared: try Self.prepared(db), applied: try Self.history(db))
            }
        } catch {
            throw LedgerError("cannot read the participant store \(path): \(error)")
        }
    }

    /// The outcomes recorded, oldest first.
    public func history() async throws(LedgerError) -> [AppliedTransaction] {
        do {
            return try await pool.read { db in try Self.history(db) }
        } catch {
            throw LedgerError("cannot read the history of the participant store \(path): \(error)")
        }
    }

    private static func values(_ db: Database) throws -> [String: StoredValue] {
        let decoder = JSONDecoder()
        var values: [String: StoredValue] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value_json FROM value") {
            values[row["key"]] = try decoder.decode(StoredValue.self, from: row["value_json"] as Data)
        }
        return values
    }

    private static func prepared(_ db: Database) throws -> [ParticipantMachine.Prepared] {
        let decoder = JSONDecoder()
        return try Row.fetchAll(db, sql: "SELECT record_json FROM prepared ORDER BY prepared_ms").map {
            try decoder.decode(ParticipantMachine.Prepared.self, from: $0["record_json"] as Data)
        }
    }

    private static func history(_ db: Database) throws -> [AppliedTransaction] {
        let decoder = JSONDecoder()
        return try Row.fetchAll(db, sql: "SELECT * FROM applied ORDER BY seq").map { row in
            AppliedTransaction(
                id: row["id"], committed: (row["committed"] as Int64) != 0, writes: try decoder.decode([KeyWrite].self, from: row["writes_json"] as Data),
                sequence: row["seq"], appliedUnixMilliseconds: row["applied_ms"])
        }
    }

    /// Runs raw SQL against the store: for tests that plant damage behind the cluster's back.
    public func executeForTesting(_ sql: String) throws {
        try pool.write { db in try db.execute(sql: sql) }
    }
}
