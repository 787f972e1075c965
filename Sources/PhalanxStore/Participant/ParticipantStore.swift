import Foundation
import GRDB
import Synchronization
import PhalanxCore
import PhalanxWire

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

/// A ``ParticipantChange`` with its stored form (``StoredRecords``) made in advance (``ParticipantStore/encode(_:)``), so that
/// the group commit's serial write only writes rows.
public struct EncodedParticipantChange: Sendable {
    public let change: ParticipantChange
    fileprivate let record: Data
    fileprivate let afterImages: [(key: String, value: Data?)]

    public var approximateBytes: Int { change.approximateBytes }
}

/// Which participant store a file is: an id made when the store was created, with the time, and
/// how many changes it had made durable when it was opened (a copy of it from before holds fewer).
public struct ParticipantStoreIdentity: Sendable, Hashable {
    public let id: String
    public let createdUnixMilliseconds: Int64
    public let writes: Int64

    public init(id: String, createdUnixMilliseconds: Int64, writes: Int64 = 0) {
        self.id = id
        self.createdUnixMilliseconds = createdUnixMilliseconds
        self.writes = writes
    }
}

/// A worker's transaction participant store in one SQLite file (`participant.sqlite` in the
/// worker's data directory; WAL, `synchronous = FULL` on the writer): committed values, prepared
/// transactions, and the history of outcomes that the audit checks the values against.
public final class ParticipantStore: Sendable {
    public let path: String
    private let pool: DatabasePool

    /// The file it opened, to tell whether `path` still names it (``replacedProblem()``).
    public let opened: FileIdentity?
    /// Its write-ahead log as opened (SQLite keeps that file, and writes to it even once it is
    /// deleted, until the last connection closes): committed changes live there until a checkpoint.
    private let log: Mutex<FileIdentity?>
    /// Its id once claimed (``claim(for:)``, ``renewIdentity()``), and the changes made durable in
    /// its whole life (counted in the store with each write).
    private let current = Mutex<(id: String?, writes: Int64)>((nil, 0))

    /// How many changes the store has made durable since it was made; it only grows, so a copy of
    /// the store from before (or its main file without the -wal) holds fewer.
    public var durableWrites: Int64 { current.withLock { $0.writes } }

    /// The store as its worker reports it to the coordinator (its id and durable writes), once claimed.
    public var reported: KnownParticipantStore? {
        current.withLock { current in current.id.map { KnownParticipantStore(id: $0, writes: current.writes) } }
    }

    public init(path: String) throws(LedgerError) {
        self.path = path
        pool = try DurableDatabase.open(path: path, label: "phalanx.participant", migrator: Self.migrator, what: "participant store", setting: "worker.data_dir")
        opened = FileIdentity(path: path)
        log = Mutex(FileIdentity(path: path + "-wal"))  // opened with the pool (its migrations read the file)
    }

    /// Why `path` does not name the file `opened` (deleted, or another file), or nil.
    public static func identityProblem(path: String, opened: FileIdentity) -> String? {
        guard let now = FileIdentity(path: path) else {
            return "the participant store \(path) was deleted while the worker ran: what it writes now is lost when the worker restarts; stop the worker, restore the file (with its -wal file) from a backup, and start it again"
        }
        guard now == opened else {
            return "the participant store \(path) was replaced by another file while the worker ran: stop the worker, put its own store back, and start it again"
        }
        return nil
    }

    /// Claims the store for worker `node` (the first to open it), or refuses it when another worker
    /// claimed it: a store moved or copied under another worker's name would apply that worker's
    /// transactions to the other's values.
    /// Returns the store's identity (made when the store was first claimed).
    public func claim(for node: String) throws(LedgerError) -> ParticipantStoreIdentity {
        let owner: String?
        let identity: ParticipantStoreIdentity
        do {
            (owner, identity) = try pool.write { db -> (String?, ParticipantStoreIdentity) in
                let owner = try String.fetchOne(db, sql: "SELECT node FROM owner")
                if owner == nil { try db.execute(sql: "INSERT INTO owner (node) VALUES (?)", arguments: [node]) }
                if let row = try Row.fetchOne(db, sql: "SELECT id, created_ms, writes FROM store_identity") {
                    return (owner, ParticipantStoreIdentity(id: row["id"], createdUnixMilliseconds: row["created_ms"], writes: row["writes"]))
                }
                let made = ParticipantStoreIdentity(id: UUID().uuidString.lowercased(), createdUnixMilliseconds: WireTime.nowUnixMilliseconds())
                try db.execute(sql: "INSERT INTO store_identity (id, created_ms) VALUES (?, ?)", arguments: [made.id, made.createdUnixMilliseconds])
                return (owner, made)
            }
        } catch {
            throw LedgerError("cannot read or record the owner and identity of the participant store \(path): \(error)")
        }
        if let owner, owner != node {
            throw LedgerError(
                "the participant store \(path) belongs to worker \(owner), not to \(node) (it was moved or copied here): a worker keeps its own store, or it would apply transactions to another worker's values; put \(node)'s own store back, or move this file (with its -wal and -shm files) aside to start \(node) with an empty store")
        }
        current.withLock { $0 = (identity.id, identity.writes) }
        return identity
    }

    /// Gives the store a new id, keeping its count of writes: an older copy accepted as a worker's
    /// store becomes a store of its own, so that another copy of the old one is not taken for it.
    public func renewIdentity() throws(LedgerError) {
        let id = UUID().uuidString.lowercased()
        do {
            try pool.write { db in try db.execute(sql: "UPDATE store_identity SET id = ?", arguments: [id]) }
        } catch {
            throw LedgerError("cannot give the participant store \(path) a new id: \(error)")
        }
        current.withLock { $0.id = id }
    }

    /// Why `path` no longer names the file this store opened (deleted, or replaced by another
    /// file while the store was open: what it writes would be lost at the next open), or nil.
    public func replacedProblem() -> String? {
        guard let opened else { return nil }
        if let problem = Self.identityProblem(path: path, opened: opened) { return problem }
        let current = FileIdentity(path: path + "-wal")
        let seen = log.withLock { seen in
            if seen == nil { seen = current }
            return seen
        }
        if let seen, current != seen {
            return "the write-ahead log \(path)-wal of the participant store was deleted or replaced while the worker ran: the changes it held are lost if the worker is killed; stop the worker with SIGTERM (SQLite then copies what the open log holds into the store) and start it again"
        }
        return nil
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
        migrator.registerMigration("v2: prepared and history appended in order") { db in
            // Rows are appended (rowid order) instead of placed by a random id: a group commit of many
            // transactions writes a few pages, not one random page per transaction. The prepared
            // table holds only transactions in flight, so finding one by id reads a few pages.
            try db.execute(sql: """
                CREATE TABLE prepared_v2 (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, record_json BLOB NOT NULL, prepared_ms INTEGER NOT NULL);
                INSERT INTO prepared_v2 (id, record_json, prepared_ms) SELECT id, record_json, prepared_ms FROM prepared ORDER BY prepared_ms;
                DROP TABLE prepared;
                ALTER TABLE prepared_v2 RENAME TO prepared;
                CREATE TABLE applied_v2 (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, committed INTEGER NOT NULL, writes_json BLOB NOT NULL, applied_ms INTEGER NOT NULL);
                INSERT INTO applied_v2 (seq, id, committed, writes_json, applied_ms) SELECT seq, id, committed, writes_json, applied_ms FROM applied;
                DROP TABLE applied;
                ALTER TABLE applied_v2 RENAME TO applied;
                """)
        }
        migrator.registerMigration("v3: owner") { db in
            // The worker the store belongs to, claimed by the first to open it (``claim(for:)``).
            try db.execute(sql: "CREATE TABLE owner (node TEXT NOT NULL)")
        }
        migrator.registerMigration("v4: store identity") { db in
            // Made once, when the store is first claimed: the coordinator remembers it for each
            // worker, so that a store lost while its worker was down is not taken for that worker's.
            try db.execute(sql: "CREATE TABLE store_identity (id TEXT NOT NULL, created_ms INTEGER NOT NULL)")
        }
        migrator.registerMigration("v5: durable writes counted") { db in
            // Grows by the changes of each write (``durableWrites``); the coordinator remembers the
            // last count a worker reported, so that an older copy of its store is not taken for it.
            try db.execute(sql: "ALTER TABLE store_identity ADD COLUMN writes INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    public func writerSynchronousMode() throws -> Int {
        try DurableDatabase.synchronousMode(of: pool)
    }

    /// `change` in its stored form, made now (by the caller, in parallel with the writer).
    public static func encode(_ change: ParticipantChange) -> EncodedParticipantChange {
        switch change {
        case .prepared(let record):
            var durable = record
            durable.durable = true
            return EncodedParticipantChange(change: change, record: StoredRecords.encode(durable), afterImages: [])
        case .outcome(_, let committed, let writes, _):
            let images = committed ? writes.map { ($0.key, $0.after.map(StoredRecords.encode)) } : []
            return EncodedParticipantChange(change: change, record: StoredRecords.encode(writes), afterImages: images)
        }
    }

    /// Makes `changes` durable in one transaction, in order.
    public func apply(_ changes: [ParticipantChange]) async throws(LedgerError) {
        try await apply(changes.map(Self.encode))
    }

    /// Makes `changes` durable in one transaction, in order.
    public func apply(_ changes: [EncodedParticipantChange]) async throws(LedgerError) {
        if let replaced = replacedProblem() { throw LedgerError(replaced) }
        try await DurableDatabase.write(changes.count, to: "participant store", at: path, in: pool) { db in try Self.write(changes, in: db) }
        counted(changes.count)
    }

    private func counted(_ count: Int) {
        guard count > 0 else { return }
        current.withLock { $0.writes += Int64(count) }
    }

    /// ``apply(_:)`` on the calling thread (SQLite writes block anyway): the group commit's own.
    public func applyBlocking(_ changes: [EncodedParticipantChange]) throws(LedgerError) {
        // Each group commit first checks that the path still names the opened file (one stat per
        // batch): what it wrote to a deleted or replaced file would be gone at the next open.
        if let replaced = replacedProblem() { throw LedgerError(replaced) }
        try DurableDatabase.writeBlocking(changes.count, to: "participant store", at: path, in: pool) { db in try Self.write(changes, in: db) }
        counted(changes.count)
    }

    private static func write(_ changes: [EncodedParticipantChange], in db: Database) throws {
        try db.cachedStatement(sql: "UPDATE store_identity SET writes = writes + ?").execute(arguments: [changes.count])
        // Looked up once per group, bound with SQLite's own calls (``BoundStatement``): five
        // statements per transaction, and GRDB hashes the SQL of each lookup and boxes each value.
        var statements = Statements(db)
        for encoded in changes {
            switch encoded.change {
            case .prepared(let record):
                try statements.run(\.deletePrepared, "DELETE FROM prepared WHERE id = ?") { $0.bind(record.id) }
                try statements.run(\.insertPrepared, "INSERT INTO prepared (id, record_json, prepared_ms) VALUES (?, ?, ?)") {
                    $0.bind(record.id)
                    $0.bind(encoded.record)
                    $0.bind(record.preparedUnixMilliseconds)
                }
            case .outcome(let id, let committed, _, let at):
                // The machine decides a transaction once (a duplicate decision is only acknowledged).
                try statements.run(\.deletePrepared, "DELETE FROM prepared WHERE id = ?") { $0.bind(id) }
                try statements.run(\.insertApplied, "INSERT INTO applied (id, committed, writes_json, applied_ms) VALUES (?, ?, ?, ?)") {
                    $0.bind(id)
                    $0.bind(Int64(committed ? 1 : 0))
                    $0.bind(encoded.record)
                    $0.bind(at)
                }
                guard committed else { continue }
                for image in encoded.afterImages {
                    if let value = image.value {
                        try statements.run(\.putValue, "INSERT OR REPLACE INTO value (key, value_json) VALUES (?, ?)") {
                            $0.bind(image.key)
                            $0.bind(value)
                        }
                    } else {
                        try statements.run(\.deleteValue, "DELETE FROM value WHERE key = ?") { $0.bind(image.key) }
                    }
                }
            }
        }
    }

    /// The store's hot statements, each looked up in GRDB's cache at most once per group.
    private struct Statements {
        let db: Database
        var deletePrepared: Statement?
        var insertPrepared: Statement?
        var insertApplied: Statement?
        var putValue: Statement?
        var deleteValue: Statement?

        init(_ db: Database) { self.db = db }

        mutating func run(_ slot: WritableKeyPath<Statements, Statement?>, _ sql: String, _ bind: (inout BoundStatement) -> Void) throws {
            let statement = try self[keyPath: slot] ?? db.cachedStatement(sql: sql)
            self[keyPath: slot] = statement
            var bound = BoundStatement(statement, in: db)
            bind(&bound)
            try bound.execute()
        }
    }

    /// Deletes the history of transactions applied before `unixMilliseconds` (values and prepared
    /// records stay); returns how many. The audit does not judge history older than the retention.
    public func pruneHistory(before unixMilliseconds: Int64) async throws(LedgerError) -> Int {
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM applied WHERE applied_ms < ?", arguments: [unixMilliseconds])
                return db.changesCount
            }
        } catch {
            throw LedgerError("cannot prune the history of the participant store \(path): \(error)")
        }
    }

    /// Copies everything in the -wal into the main file and empties the -wal (a TRUNCATE
    /// checkpoint), so that a stopped store's main file holds all of it. SQLite does this itself
    /// only when the writer is the last connection to close, which a read still running at
    /// the end of a session (a prune, a status) can prevent.
    public func checkpoint() throws(LedgerError) {
        do {
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        } catch {
            throw LedgerError("cannot copy the participant store's -wal into \(path) (a checkpoint): \(error)")
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
    /// The store as one read transaction sees it. `onceConsistent` is called as soon as that
    /// transaction holds its snapshot of the file (after its first read, before the long ones):
    /// from then on, writes do not change what it reads.
    public func snapshot(node: String, onceConsistent: @Sendable () -> Void = {}) async throws(LedgerError) -> ParticipantSnapshot {
        do {
            return try await pool.read { db in
                let prepared = try Self.prepared(db)  // the first read: SQLite's WAL snapshot is taken here
                onceConsistent()
                return ParticipantSnapshot(node: node, values: try Self.values(db), prepared: prepared, applied: try Self.history(db))
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
        var values: [String: StoredValue] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value_json FROM value") {
            values[row["key"]] = try StoredRecords.storedValue(from: row["value_json"])
        }
        return values
    }

    private static func prepared(_ db: Database) throws -> [ParticipantMachine.Prepared] {
        try Row.fetchAll(db, sql: "SELECT record_json FROM prepared ORDER BY seq").map {
            try StoredRecords.prepared(from: $0["record_json"])
        }
    }

    private static func history(_ db: Database) throws -> [AppliedTransaction] {
        try Row.fetchAll(db, sql: "SELECT * FROM applied ORDER BY seq").map { row in
            AppliedTransaction(
                id: row["id"], committed: (row["committed"] as Int64) != 0, writes: try StoredRecords.keyWrites(from: row["writes_json"]),
                sequence: row["seq"], appliedUnixMilliseconds: row["applied_ms"])
        }
    }

    /// Runs raw SQL against the store: for tests that plant damage behind the cluster's back.
    public func executeForTesting(_ sql: String) throws {
        try DurableDatabase.execute(sql, in: pool)
    }
}
