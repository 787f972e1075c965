import Foundation
import GRDB
import PhalanxCore
import Synchronization

/// The task ledger in one SQLite file (WAL, `synchronous = FULL`): every ``apply(_:)`` is one
/// transaction that is on disk, fsync included, when it returns.
///
/// It is opened through ``DurableDatabase`` (which sets `FULL` on the writer, where GRDB's WAL set-up
/// leaves `NORMAL`); ``writerSynchronousMode()`` reads it back through the writer.
public final class SQLiteTaskLedger: TaskLedger {
    public let path: String
    let pool: DatabasePool
    /// Dispatch records ``applyCoalescing(_:)`` holds back for its next call.
    private let heldBack = Mutex<[LedgerChange]>([])

    /// Opens (creating if needed) the ledger at `path`; its folder is created too.
    public init(path: String) throws(LedgerError) {
        self.path = path
        pool = try DurableDatabase.open(path: path, label: "phalanx.ledger", migrator: Self.migrator, what: "task ledger", setting: "coordinator.data_dir")
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE task (
                    client TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    spec BLOB NOT NULL,
                    attempt INTEGER NOT NULL DEFAULT 0,
                    losses INTEGER NOT NULL DEFAULT 0,
                    accepted_ms INTEGER NOT NULL,
                    accepted_seq INTEGER NOT NULL,
                    finished_ms INTEGER,
                    result BLOB,
                    PRIMARY KEY (client, task_id)
                ) WITHOUT ROWID;
                CREATE INDEX task_unfinished ON task (accepted_seq) WHERE finished_ms IS NULL;
                CREATE INDEX task_finished ON task (finished_ms) WHERE finished_ms IS NOT NULL;
                CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: no index of unfinished tasks") { db in
            // Every finish moved a row out of it; recovery reads unfinished tasks once, at start.
            try db.execute(sql: "DROP INDEX IF EXISTS task_unfinished")
        }
        migrator.registerMigration("v3: dead-letter queue") { db in
            try db.execute(sql: """
                CREATE TABLE dead_letter (
                    client TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    spec BLOB NOT NULL,
                    code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    dead_ms INTEGER NOT NULL,
                    PRIMARY KEY (client, task_id)
                ) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("v4: cancel requests") { db in
            try db.execute(sql: "ALTER TABLE task ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v5: idempotency keys") { db in
            try db.execute(sql: """
                ALTER TABLE task ADD COLUMN idempotency_key TEXT;
                CREATE INDEX task_keyed_finished ON task (finished_ms) WHERE idempotency_key IS NOT NULL AND finished_ms IS NOT NULL;
                """)
        }
        migrator.registerMigration("v6: aliases and worker incarnations") { db in
            try db.execute(sql: """
                CREATE TABLE task_alias (
                    client TEXT NOT NULL,
                    task_id TEXT NOT NULL,
                    original_task_id TEXT NOT NULL,
                    accepted_ms INTEGER NOT NULL,
                    PRIMARY KEY (client, task_id)
                ) WITHOUT ROWID;
                CREATE INDEX task_alias_accepted ON task_alias (accepted_ms);
                CREATE TABLE worker (name TEXT PRIMARY KEY NOT NULL, incarnation INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v7: transaction decision log") { db in
            try db.execute(sql: """
                CREATE TABLE tx_log (
                    id TEXT PRIMARY KEY NOT NULL,
                    begin_json BLOB NOT NULL,
                    begun_ms INTEGER NOT NULL,
                    committed INTEGER,
                    reason_json BLOB,
                    decided_ms INTEGER,
                    ended_ms INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX tx_log_unended ON tx_log (begun_ms) WHERE ended_ms IS NULL;
                """)
        }
        migrator.registerMigration("v8: compensation log") { db in
            try db.execute(sql: """
                CREATE TABLE saga_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    saga TEXT NOT NULL,
                    record_json BLOB NOT NULL,
                    finished INTEGER NOT NULL DEFAULT 0,
                    at_ms INTEGER NOT NULL
                );
                CREATE INDEX saga_log_saga ON saga_log (saga, seq);
                CREATE TABLE saga_open (saga TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v9: decision log appended in order") { db in
            // Rows are appended (rowid order), found by id through a small index: a group commit of
            // many decisions writes a few table pages instead of one random page per transaction.
            try db.execute(sql: """
                CREATE TABLE tx_log_v9 (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    begin_json BLOB NOT NULL,
                    begun_ms INTEGER NOT NULL,
                    committed INTEGER,
                    reason_json BLOB,
                    decided_ms INTEGER,
                    ended_ms INTEGER
                );
                INSERT INTO tx_log_v9 (id, begin_json, begun_ms, committed, reason_json, decided_ms, ended_ms)
                    SELECT id, begin_json, begun_ms, committed, reason_json, decided_ms, ended_ms FROM tx_log ORDER BY begun_ms;
                DROP TABLE tx_log;
                ALTER TABLE tx_log_v9 RENAME TO tx_log;
                CREATE INDEX tx_log_unended ON tx_log (seq) WHERE ended_ms IS NULL;
                """)
        }
        migrator.registerMigration("v10: failed attempts of unfinished tasks") { db in
            try db.execute(sql: "ALTER TABLE task ADD COLUMN history BLOB")
        }
        migrator.registerMigration("v11: request fingerprints of keyed tasks") { db in
            try db.execute(sql: "ALTER TABLE task ADD COLUMN request_fingerprint INTEGER")
        }
        migrator.registerMigration("v12: participant stores of workers") { db in
            try db.execute(sql: "ALTER TABLE worker ADD COLUMN participant_store TEXT")
        }
        migrator.registerMigration("v13: participant store writes") { db in
            try db.execute(sql: "ALTER TABLE worker ADD COLUMN participant_store_writes INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v14: accepted losses of participant stores") { db in
            try db.execute(sql: """
                CREATE TABLE participant_store_loss (
                    seq INTEGER PRIMARY KEY,
                    worker TEXT NOT NULL,
                    previous_store TEXT NOT NULL,
                    previous_writes INTEGER NOT NULL,
                    new_store TEXT NOT NULL,
                    accepted_ms INTEGER NOT NULL
                )
                """)
        }
        return migrator
    }

    /// Runs raw SQL against the ledger: for tests that plant damage behind the coordinator's back.
    public func executeForTesting(_ sql: String) throws {
        try DurableDatabase.execute(sql, in: pool)
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL); for tests and diagnostics.
    public func writerSynchronousMode() throws -> Int {
        try DurableDatabase.synchronousMode(of: pool)
    }

    public func apply(_ changes: [LedgerChange]) async throws(LedgerError) {
        try await DurableDatabase.write(changes.count, to: "task ledger", at: path, in: pool) { db in try Self.write(changes, in: db) }
    }

    /// ``apply(_:)`` on the calling thread (SQLite writes block anyway): the group commit's own.
    public func applyBlocking(_ changes: [LedgerChange]) throws(LedgerError) {
        try DurableDatabase.writeBlocking(changes.count, to: "task ledger", at: path, in: pool) { db in try Self.write(changes, in: db) }
    }

    public func applyCoalescing(_ changes: [LedgerChange]) throws(LedgerError) {
        let held = heldBack.withLock { held in
            defer { held = [] }
            return held
        }
        guard !changes.isEmpty || !held.isEmpty else { return }
        let all = held.isEmpty ? changes : held + changes
        let coalesced = CoalescedWrites(all)
        let (now, later) = changes.isEmpty ? (coalesced, []) : coalesced.holdingBackDispatches(except: Self.keys(of: held))
        try DurableDatabase.writeBlocking(all.count, to: "task ledger", at: path, in: pool) { db in try Self.write(now, in: db) }
        heldBack.withLock { $0 = later }
    }

    private static func keys(of dispatches: [LedgerChange]) -> Set<TaskKey> {
        Set(dispatches.compactMap { change in if case .dispatched(let key, _) = change { key } else { nil } })
    }

    private static func write(_ changes: [LedgerChange], in db: Database) throws {
        try write(CoalescedWrites(changes), in: db)
    }

    private static func write(_ coalesced: CoalescedWrites, in db: Database) throws {
        var sequence = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'accepted_seq'") ?? 0
        let start = sequence
        // Looked up once per group, not per row: GRDB's statement cache hashes the whole SQL text.
        var insertStatement: Statement?
        var updateStatement: Statement?
        for write in coalesced.writes {
            let key = write.key
            if let accepted = write.accepted {
                sequence += 1
                let statement = try insertStatement ?? db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO task (client, task_id, spec, attempt, losses, accepted_ms, accepted_seq, finished_ms, result, cancel_requested, idempotency_key, history, request_fingerprint)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                insertStatement = statement
                var insert = BoundStatement(statement, in: db)
                insert.bind(key.client)
                insert.bind(key.taskID)
                insert.bind(accepted.spec)
                insert.bind(Int64(write.attempt ?? 0))
                insert.bind(Int64(write.losses ?? 0))
                insert.bind(accepted.unixMilliseconds)
                insert.bind(sequence)
                insert.bind(write.finished?.unixMilliseconds)
                insert.bind(write.finished?.result)
                insert.bind(Int64(write.cancelRequested ? 1 : 0))
                insert.bind(accepted.idempotencyKey)
                insert.bind(write.finished == nil ? write.history : nil)
                insert.bind(accepted.requestFingerprint.map { Int64(bitPattern: $0) })
                try insert.execute()
                continue
            }
            // One update of a task accepted earlier; a finished task is never changed again.
            let statement = try updateStatement ?? db.cachedStatement(sql: """
                UPDATE task SET attempt = COALESCE(?, attempt), losses = COALESCE(?, losses),
                    history = CASE WHEN ? THEN NULL ELSE COALESCE(?, history) END,
                    finished_ms = COALESCE(?, finished_ms), result = COALESCE(?, result), cancel_requested = MAX(cancel_requested, ?)
                WHERE client = ? AND task_id = ? AND finished_ms IS NULL
                """)
            updateStatement = statement
            var update = BoundStatement(statement, in: db)
            update.bind(write.attempt.map { Int64($0) })
            update.bind(write.losses.map { Int64($0) })
            update.bind(Int64(write.finished == nil ? 0 : 1))  // a finished task's result holds its history
            update.bind(write.history)
            update.bind(write.finished?.unixMilliseconds)
            update.bind(write.finished?.result)
            update.bind(Int64(write.cancelRequested ? 1 : 0))
            update.bind(key.client)
            update.bind(key.taskID)
            try update.execute()
        }
        let others = coalesced.deadLetterChanges
        var position = others.startIndex
        while position < others.endIndex {
            let change = others[position]
            position += 1
            // A BEGIN is queued with its decision (one write per transaction): one row written once.
            if case .transaction(.begun(let begin), let beginRecord) = change, position < others.endIndex,
                case .transaction(.decided(begin.id, let committed, let reason, let at), _) = others[position]
            {
                try DecisionLogRows.writeBegun(begin, beginRecord: beginRecord, decided: (committed, reason, at), in: db)
                position += 1
                continue
            }
            switch change {
            case .deadLettered(let entry):
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO dead_letter (client, task_id, spec, code, reason, attempts, dead_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                        entry.key.client, entry.key.taskID, Data(entry.spec), entry.code, entry.reason, Int64(entry.attempts), entry.deadUnixMilliseconds,
                    ])
            case .deadLetterRemoved(let key):
                try db.cachedStatement(sql: "DELETE FROM dead_letter WHERE client = ? AND task_id = ?").execute(arguments: [key.client, key.taskID])
            case .aliased(let key, let original, let at):
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO task_alias (client, task_id, original_task_id, accepted_ms) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [key.client, key.taskID, original, at])
            case .workerIncarnation(let name, let incarnation):
                try db.cachedStatement(sql: "INSERT INTO worker (name, incarnation) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET incarnation = MAX(incarnation, excluded.incarnation)")
                    .execute(arguments: [name, Int64(bitPattern: incarnation)])
            case .workerParticipantStore(let name, let store):
                try db.cachedStatement(sql: """
                    INSERT INTO worker (name, incarnation, participant_store, participant_store_writes) VALUES (?, 0, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET participant_store = excluded.participant_store, participant_store_writes = excluded.participant_store_writes
                    """).execute(arguments: [name, store.id, store.writes])
            case .participantStoreLossAccepted(let loss):
                try db.cachedStatement(sql: """
                    INSERT INTO participant_store_loss (worker, previous_store, previous_writes, new_store, accepted_ms) VALUES (?, ?, ?, ?, ?)
                    """).execute(arguments: [loss.worker, loss.previousStore, loss.previousWrites, loss.newStore, loss.acceptedUnixMilliseconds])
            case .transaction(let change, let beginRecord):
                try DecisionLogRows.write(change, beginRecord: beginRecord, in: db)
            case .saga(let record):
                try DecisionLogRows.append(record, in: db)
            default:
                break
            }
        }
        if sequence != start {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (name, value) VALUES ('accepted_seq', ?)").execute(arguments: [sequence])
        }
    }

    public func deadLetters(limit: Int) async throws(LedgerError) -> [DeadLetter] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM dead_letter ORDER BY dead_ms LIMIT ?", arguments: [limit]).map(Self.deadLetter(from:))
            }
        } catch {
            throw LedgerError("cannot read the dead-letter queue from the task ledger \(path): \(error)")
        }
    }

    public func deadLetterCount() async throws(LedgerError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letter") ?? 0 }
        } catch {
            throw LedgerError("cannot count the dead-letter queue in the task ledger \(path): \(error)")
        }
    }

    public func removeDeadLetters(_ keys: [TaskKey]?) async throws(LedgerError) -> [DeadLetter] {
        do {
            return try await pool.write { db in
                guard let keys else {
                    let all = try Row.fetchAll(db, sql: "SELECT * FROM dead_letter ORDER BY dead_ms").map(Self.deadLetter(from:))
                    try db.execute(sql: "DELETE FROM dead_letter")
                    return all
                }
                var removed: [DeadLetter] = []
                for key in keys {
                    guard let row = try Row.fetchOne(db, sql: "SELECT * FROM dead_letter WHERE client = ? AND task_id = ?", arguments: [key.client, key.taskID])
                    else { continue }
                    removed.append(Self.deadLetter(from: row))
                    try db.execute(sql: "DELETE FROM dead_letter WHERE client = ? AND task_id = ?", arguments: [key.client, key.taskID])
                }
                return removed
            }
        } catch {
            throw LedgerError("cannot change the dead-letter queue in the task ledger \(path): \(error)")
        }
    }

    private static func deadLetter(from row: Row) -> DeadLetter {
        let spec: Data = row["spec"]
        return DeadLetter(
            key: TaskKey(client: row["client"], taskID: row["task_id"]), spec: Array(spec), code: row["code"], reason: row["reason"],
            attempts: UInt32(clamping: row["attempts"] as Int64), deadUnixMilliseconds: row["dead_ms"])
    }

    public func unfinishedTasks() async throws(LedgerError) -> [StoredTask] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM task WHERE finished_ms IS NULL ORDER BY accepted_seq").map(Self.task(from:))
            }
        } catch {
            throw LedgerError("cannot read unfinished tasks from the task ledger \(path): \(error)")
        }
    }

    public func tasks(_ keys: [TaskKey]) async throws(LedgerError) -> [TaskKey: StoredTask] {
        do {
            return try await pool.read { db in
                var found: [TaskKey: StoredTask] = [:]
                let statement = try db.cachedStatement(sql: "SELECT * FROM task WHERE client = ? AND task_id = ?")
                let alias = try db.cachedStatement(sql: "SELECT original_task_id FROM task_alias WHERE client = ? AND task_id = ?")
                for key in keys {
                    if let row = try Row.fetchOne(statement, arguments: [key.client, key.taskID]) {
                        found[key] = Self.task(from: row)
                    } else if let original = try String.fetchOne(alias, arguments: [key.client, key.taskID]),
                        let row = try Row.fetchOne(statement, arguments: [key.client, original])
                    {
                        // A resubmission with an idempotency key: it stands for its original.
                        var task = Self.task(from: row)
                        task.key = key
                        task.original = original
                        found[key] = task
                    }
                }
                return found
            }
        } catch {
            throw LedgerError("cannot read tasks from the task ledger \(path): \(error)")
        }
    }

    public func pruneFinished(before unixMilliseconds: Int64) async throws(LedgerError) -> Int {
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM task WHERE finished_ms IS NOT NULL AND finished_ms < ?", arguments: [unixMilliseconds])
                let pruned = db.changesCount
                try db.execute(sql: "DELETE FROM task_alias WHERE accepted_ms < ?", arguments: [unixMilliseconds])
                // An accepted loss explains history within the retention only.
                try db.execute(sql: "DELETE FROM participant_store_loss WHERE accepted_ms < ?", arguments: [unixMilliseconds])
                // Transactions that ended, and sagas that finished, before the retention: their history goes too.
                try db.execute(sql: "DELETE FROM tx_log WHERE ended_ms IS NOT NULL AND ended_ms < ?", arguments: [unixMilliseconds])
                try db.execute(sql: """
                    DELETE FROM saga_log WHERE saga IN (
                        SELECT saga FROM saga_log GROUP BY saga HAVING MAX(finished) = 1 AND MAX(at_ms) < ?
                    )
                    """, arguments: [unixMilliseconds])
                return pruned
            }
        } catch {
            throw LedgerError("cannot prune the task ledger \(path): \(error)")
        }
    }

    public func beginIncarnation() async throws(LedgerError) -> UInt64 {
        do {
            return try await pool.write { db in
                let next = (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'incarnation'") ?? 0) + 1
                try db.execute(sql: "INSERT OR REPLACE INTO meta (name, value) VALUES ('incarnation', ?)", arguments: [next])
                return UInt64(next)
            }
        } catch {
            throw LedgerError("cannot start a new incarnation in the task ledger \(path): \(error)")
        }
    }

    public func finishedIdempotencyKeys(since unixMilliseconds: Int64, limit: Int) async throws(LedgerError) -> [FinishedIdempotencyKey] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT client, task_id, idempotency_key, finished_ms, request_fingerprint FROM task
                        WHERE idempotency_key IS NOT NULL AND finished_ms IS NOT NULL AND finished_ms >= ?
                        ORDER BY finished_ms DESC LIMIT ?
                        """,
                    arguments: [unixMilliseconds, limit]
                ).map { row in
                    FinishedIdempotencyKey(
                        task: TaskKey(client: row["client"], taskID: row["task_id"]), key: row["idempotency_key"], finishedUnixMilliseconds: row["finished_ms"],
                        requestFingerprint: (row["request_fingerprint"] as Int64?).map { UInt64(bitPattern: $0) })
                }
            }
        } catch {
            throw LedgerError("cannot read the idempotency keys of finished tasks from the task ledger \(path): \(error)")
        }
    }

    public func aliasesOfUnfinishedTasks() async throws(LedgerError) -> [(alias: TaskKey, original: String)] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT a.client, a.task_id, a.original_task_id FROM task_alias a
                        JOIN task t ON t.client = a.client AND t.task_id = a.original_task_id WHERE t.finished_ms IS NULL
                        """
                ).map { (TaskKey(client: $0["client"], taskID: $0["task_id"]), $0["original_task_id"]) }
            }
        } catch {
            throw LedgerError("cannot read the resubmissions of unfinished tasks from the task ledger \(path): \(error)")
        }
    }

    public func workerParticipantStores() async throws(LedgerError) -> [String: KnownParticipantStore] {
        do {
            return try await pool.read { db in
                var stores: [String: KnownParticipantStore] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, participant_store, participant_store_writes FROM worker WHERE participant_store IS NOT NULL") {
                    stores[row["name"]] = KnownParticipantStore(id: row["participant_store"], writes: row["participant_store_writes"])
                }
                return stores
            }
        } catch {
            throw LedgerError("cannot read the participant stores of workers from the ledger: \(error)")
        }
    }

    public func acceptedStoreLosses() async throws(LedgerError) -> [AcceptedStoreLoss] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT worker, previous_store, previous_writes, new_store, accepted_ms FROM participant_store_loss ORDER BY seq"
                ).map {
                    AcceptedStoreLoss(
                        worker: $0["worker"], previousStore: $0["previous_store"], previousWrites: $0["previous_writes"], newStore: $0["new_store"],
                        acceptedUnixMilliseconds: $0["accepted_ms"])
                }
            }
        } catch {
            throw LedgerError("cannot read the accepted losses of participant stores from the ledger: \(error)")
        }
    }

    public func workerIncarnations() async throws(LedgerError) -> [String: UInt64] {
        do {
            return try await pool.read { db in
                var incarnations: [String: UInt64] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, incarnation FROM worker") {
                    incarnations[row["name"]] = UInt64(bitPattern: row["incarnation"] as Int64)
                }
                return incarnations
            }
        } catch {
            throw LedgerError("cannot read worker incarnations from the task ledger \(path): \(error)")
        }
    }

    private static func task(from row: Row) -> StoredTask {
        let spec: Data = row["spec"]
        let result: Data? = row["result"]
        var task = StoredTask(
            key: TaskKey(client: row["client"], taskID: row["task_id"]), spec: Array(spec),
            attempt: UInt32(clamping: row["attempt"] as Int64), losses: UInt32(clamping: row["losses"] as Int64),
            acceptedUnixMilliseconds: row["accepted_ms"], finishedUnixMilliseconds: row["finished_ms"], result: result.map(Array.init))
        task.cancelRequested = (row["cancel_requested"] as Int64) != 0
        if (row["finished_ms"] as Int64?) == nil, let history = row["history"] as Data? { task.history = Array(history) }
        return task
    }
}
