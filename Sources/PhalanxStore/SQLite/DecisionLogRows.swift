import Foundation
import GRDB
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// The decision log's rows in the task ledger's file (table `tx_log`): one row per transaction,
/// BEGIN inserts it, the decision and END fill in their columns. BEGIN (with the write sets) is
/// kept in its protobuf form (``StoredRecords``), a reason and saga records as JSON.
enum DecisionLogRows {
    static func write(_ change: TransactionLogChange, beginRecord: Data?, in db: Database) throws {
        switch change {
        case .begun(let begin):
            try writeBegun(begin, beginRecord: beginRecord, decided: nil, in: db)
        case .decided(let id, let committed, let reason, let at):
            // A decision is never changed once made (the first one logged stands).
            var update = BoundStatement(
                try db.cachedStatement(sql: "UPDATE tx_log SET committed = ?, reason_json = ?, decided_ms = ? WHERE id = ? AND committed IS NULL"), in: db)
            update.bind(Int64(committed ? 1 : 0))
            update.bind(try reason.map { try JSONEncoder().encode($0) })
            update.bind(at)
            update.bind(id)
            try update.execute()
        case .ended(let id, let at):
            var update = BoundStatement(try db.cachedStatement(sql: "UPDATE tx_log SET ended_ms = ? WHERE id = ? AND ended_ms IS NULL"), in: db)
            update.bind(at)
            update.bind(id)
            try update.execute()
        }
    }

    /// BEGIN, and with it the decision when both are written together (one insert instead of an
    /// insert and an update). An id already logged keeps its history: a reused id never rewrites
    /// its BEGIN, and gets the decision only if it has none (the first one logged stands), as the
    /// decision's own update does. Without a decision the conflict sets nothing new (NULL stays NULL).
    static func writeBegun(
        _ begin: TransactionBegin, beginRecord: Data?, decided: (committed: Bool, reason: ErrorContext?, at: Int64)?, in db: Database
    ) throws {
        var insert = BoundStatement(
            try db.cachedStatement(sql: """
                INSERT INTO tx_log (id, begin_json, begun_ms, committed, reason_json, decided_ms) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET committed = excluded.committed, reason_json = excluded.reason_json, decided_ms = excluded.decided_ms
                WHERE tx_log.committed IS NULL
                """), in: db)
        insert.bind(begin.id)
        insert.bind(beginRecord ?? StoredRecords.encode(begin))
        insert.bind(begin.begunUnixMilliseconds)
        insert.bind(decided.map { Int64($0.committed ? 1 : 0) })
        insert.bind(try decided?.reason.map { try JSONEncoder().encode($0) })
        insert.bind(decided?.at)
        try insert.execute()
    }

    /// Appends a saga record; `saga_open` lists the sagas without a `finished` record.
    static func append(_ record: SagaLogRecord, in db: Database) throws {
        var finished = false
        if case .finished = record.event { finished = true }
        try db.cachedStatement(sql: "INSERT INTO saga_log (saga, record_json, finished, at_ms) VALUES (?, ?, ?, ?)")
            .execute(arguments: [record.saga, try JSONEncoder().encode(record), finished ? 1 : 0, record.unixMilliseconds])
        if finished {
            try db.cachedStatement(sql: "DELETE FROM saga_open WHERE saga = ?").execute(arguments: [record.saga])
        } else if case .begun = record.event {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO saga_open (saga) VALUES (?)").execute(arguments: [record.saga])
        }
    }

    static func histories(_ rows: [Row]) throws -> [SagaHistory] {
        let decoder = JSONDecoder()
        var order: [String] = []
        var records: [String: [SagaLogRecord]] = [:]
        for row in rows {
            let record = try decoder.decode(SagaLogRecord.self, from: row["record_json"] as Data)
            if records[record.saga] == nil { order.append(record.saga) }
            records[record.saga, default: []].append(record)
        }
        return order.map { SagaHistory(records: records[$0]!) }
    }

    static func entry(from row: Row) throws -> TransactionLogEntry {
        var begin = try StoredRecords.transactionBegin(from: row["begin_json"])
        begin.begunUnixMilliseconds = row["begun_ms"]  // the column is what queries and the index use
        let committed: Int64? = row["committed"]
        let reason: Data? = row["reason_json"]
        return TransactionLogEntry(
            begin: begin, committed: committed.map { $0 != 0 }, reason: try reason.map { try JSONDecoder().decode(ErrorContext.self, from: $0) },
            decidedUnixMilliseconds: row["decided_ms"], endedUnixMilliseconds: row["ended_ms"])
    }
}

extension SQLiteTaskLedger {
    public func unendedTransactions() async throws(LedgerError) -> [TransactionLogEntry] {
        try await readLog("unfinished transactions") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tx_log WHERE ended_ms IS NULL ORDER BY seq").map(DecisionLogRows.entry(from:))
        }
    }

    public func transaction(_ id: String) async throws(LedgerError) -> TransactionLogEntry? {
        try await readLog("transaction \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tx_log WHERE id = ?", arguments: [id]).map(DecisionLogRows.entry(from:))
        }
    }

    public func transactionLog() async throws(LedgerError) -> [TransactionLogEntry] {
        try await readLog("the decision log") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tx_log ORDER BY seq").map(DecisionLogRows.entry(from:))
        }
    }

    public func unfinishedSagas() async throws(LedgerError) -> [SagaHistory] {
        try await readLog("unfinished sagas") { db in
            try DecisionLogRows.histories(Row.fetchAll(db, sql: "SELECT record_json FROM saga_log WHERE saga IN (SELECT saga FROM saga_open) ORDER BY seq"))
        }
    }

    public func saga(_ id: String) async throws(LedgerError) -> SagaHistory? {
        try await readLog("saga \(id)") { db in
            try DecisionLogRows.histories(Row.fetchAll(db, sql: "SELECT record_json FROM saga_log WHERE saga = ? ORDER BY seq", arguments: [id])).first
        }
    }

    public func sagaLog() async throws(LedgerError) -> [SagaHistory] {
        try await readLog("the compensation log") { db in
            try DecisionLogRows.histories(Row.fetchAll(db, sql: "SELECT record_json FROM saga_log ORDER BY seq"))
        }
    }

    public func auditTasks(isTerminalResult: @escaping @Sendable ([UInt8]) -> Bool) async throws(LedgerError) -> TaskLedgerAudit {
        try await readLog("tasks for the audit") { db in
            var findings: [AuditViolation] = []
            let accepted = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM task") ?? 0
            var finished = 0
            for row in try Row.fetchAll(db, sql: "SELECT client, task_id, finished_ms, result FROM task WHERE finished_ms IS NOT NULL OR result IS NOT NULL") {
                let name = "\(row["client"] as String)/\(row["task_id"] as String)"
                let result: Data? = row["result"]
                let finishedAt: Int64? = row["finished_ms"]
                guard let result, finishedAt != nil else {
                    findings.append(AuditViolation(
                        .taskWithoutTerminalResult, key: name,
                        result == nil ? "task \(name) is marked finished but has no result" : "task \(name) has a result but is not marked finished"))
                    continue
                }
                finished += 1
                if !isTerminalResult(Array(result)) {
                    findings.append(AuditViolation(.taskResultUnreadable, key: name, "task \(name) has a result that is not one terminal outcome (output or error)"))
                }
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT d.client, d.task_id FROM dead_letter d LEFT JOIN task t ON t.client = d.client AND t.task_id = d.task_id
                WHERE t.finished_ms IS NULL
                """)
            {
                let name = "\(row["client"] as String)/\(row["task_id"] as String)"
                findings.append(AuditViolation(.taskUnfinishedInDeadLetters, key: name, "task \(name) is in the dead-letter queue but the ledger has no terminal result for it"))
            }
            return TaskLedgerAudit(accepted: accepted, finished: finished, findings: findings)
        }
    }

    private func readLog<T: Sendable>(_ what: String, _ read: @Sendable @escaping (Database) throws -> T) async throws(LedgerError) -> T {
        do {
            return try await pool.read(read)
        } catch {
            throw LedgerError("cannot read \(what) from the task ledger \(path): \(error)")
        }
    }
}
