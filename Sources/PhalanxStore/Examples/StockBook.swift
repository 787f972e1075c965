import Foundation
import GRDB

/// The store behind the example TCC resource `stock` (see `StockResource` in PhalanxCluster):
/// items with a quantity on hand, and holds that transactions place on them, in one SQLite file
/// (WAL, `synchronous = FULL`). Every method is one SQLite transaction and idempotent per
/// transaction id, as a resource's hooks must be.
public final class StockBook: Sendable {
    /// One line of a transaction on the book: a signed quantity of an item (negative: taken out).
    public struct Line: Sendable, Hashable {
        public var sku: String
        public var quantity: Int64

        public init(sku: String, quantity: Int64) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    /// Why a hold cannot be placed (the transaction votes NO for a business reason).
    public struct Shortage: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let pool: DatabasePool

    public init(path: String) throws(LedgerError) {
        self.path = path
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE item (sku TEXT PRIMARY KEY NOT NULL, on_hand INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE hold (tx TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL, PRIMARY KEY (tx, sku)) WITHOUT ROWID;
                CREATE INDEX hold_sku ON hold (sku);
                CREATE TABLE done (tx TEXT NOT NULL, sku TEXT NOT NULL, outcome TEXT NOT NULL, quantity INTEGER NOT NULL, PRIMARY KEY (tx, sku)) WITHOUT ROWID;
                """)
        }
        pool = try DurableDatabase.open(path: path, label: "phalanx.stock", migrator: migrator, what: "stock book", setting: "worker.data_dir")
    }

    /// The lines of one transaction summed per item, in the order the items first appear.
    static func net(_ lines: [Line]) -> [Line] {
        var order: [String] = []
        var sums: [String: Int64] = [:]
        for line in lines {
            if sums[line.sku] == nil { order.append(line.sku) }
            sums[line.sku, default: 0] += line.quantity
        }
        return order.map { Line(sku: $0, quantity: sums[$0] ?? 0) }
    }

    /// Places the holds of `tx`, one per item with the lines summed (nothing if they are already
    /// placed). An item taken out more than is on hand and not held by other transactions throws
    /// ``Shortage`` and places nothing.
    public func hold(_ tx: String, _ lines: [Line]) throws {
        try pool.write { db in
            if try Self.ended(tx, db) { throw Shortage(description: "transaction \(tx) already ended here") }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold WHERE tx = ?", arguments: [tx]) ?? 0 > 0 { return }  // placed whole before
            for line in Self.net(lines) {
                if line.quantity < 0 {
                    let (onHand, held) = try Self.stock(of: line.sku, db)
                    if onHand - held < -line.quantity {
                        throw Shortage(description: "\(line.sku): \(max(0, onHand - held)) available (\(onHand) on hand, \(held) held), \(-line.quantity) asked")
                    }
                }
                try db.execute(sql: "INSERT INTO hold (tx, sku, quantity) VALUES (?, ?, ?)", arguments: [tx, line.sku, line.quantity])
            }
        }
    }

    /// Makes the holds of `tx` take effect. Throws if `tx` holds nothing and never committed here.
    public func confirm(_ tx: String) throws {
        try pool.write { db in
            let holds = try Row.fetchAll(db, sql: "SELECT sku, quantity FROM hold WHERE tx = ?", arguments: [tx])
            if holds.isEmpty {
                let committed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM done WHERE tx = ? AND outcome = 'committed'", arguments: [tx]) ?? 0
                if committed > 0 { return }
                throw Shortage(description: "transaction \(tx) holds nothing here: it was never prepared (or was aborted)")
            }
            for row in holds {
                let sku: String = row["sku"]
                let quantity: Int64 = row["quantity"]
                try Self.add(quantity, to: sku, db)
                try db.execute(sql: "INSERT OR REPLACE INTO done (tx, sku, outcome, quantity) VALUES (?, ?, 'committed', ?)", arguments: [tx, sku, quantity])
            }
            try db.execute(sql: "DELETE FROM hold WHERE tx = ?", arguments: [tx])
        }
    }

    /// Releases the holds of `tx` (nothing to do if it has none).
    public func release(_ tx: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO done (tx, sku, outcome, quantity) SELECT tx, sku, 'aborted', quantity FROM hold WHERE tx = ?", arguments: [tx])
            try db.execute(sql: "DELETE FROM hold WHERE tx = ?", arguments: [tx])
            try db.execute(sql: "INSERT OR IGNORE INTO done (tx, sku, outcome, quantity) VALUES (?, '', 'aborted', 0)", arguments: [tx])
        }
    }

    /// Undoes `lines` that committed earlier, once per compensating transaction `tx`: what was
    /// taken out is given back; what was added is taken back as far as it is still there (not
    /// taken out or held by others since: a compensation cannot refuse, and stock already sold
    /// cannot be unsold). `done` records what was actually reversed.
    public func reverse(_ tx: String, _ lines: [Line]) throws {
        try pool.write { db in
            if try Self.ended(tx, db) { return }
            for line in Self.net(lines) {
                var change = -line.quantity
                if change < 0 {
                    let (onHand, held) = try Self.stock(of: line.sku, db)
                    change = -min(-change, max(0, onHand - held))
                }
                try Self.add(change, to: line.sku, db)
                try db.execute(sql: "INSERT INTO done (tx, sku, outcome, quantity) VALUES (?, ?, 'compensated', ?)", arguments: [tx, line.sku, change])
            }
            try db.execute(sql: "INSERT OR IGNORE INTO done (tx, sku, outcome, quantity) VALUES (?, '', 'compensated', 0)", arguments: [tx])
        }
    }

    /// Whether `tx` committed, aborted or compensated here.
    private static func ended(_ tx: String, _ db: Database) throws -> Bool {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM done WHERE tx = ?", arguments: [tx]) ?? 0 > 0
    }

    /// An item's quantity on hand, and how much of it holds take out.
    private static func stock(of sku: String, _ db: Database) throws -> (onHand: Int64, held: Int64) {
        let onHand = try Int64.fetchOne(db, sql: "SELECT on_hand FROM item WHERE sku = ?", arguments: [sku]) ?? 0
        let held = try Int64.fetchOne(db, sql: "SELECT COALESCE(-SUM(quantity), 0) FROM hold WHERE sku = ? AND quantity < 0", arguments: [sku]) ?? 0
        return (onHand, held)
    }

    private static func add(_ quantity: Int64, to sku: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO item (sku, on_hand) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET on_hand = on_hand + excluded.on_hand",
            arguments: [sku, quantity])
    }

    /// What the book holds now: quantities on hand, and the transactions holding each item.
    public func state() throws -> (onHand: [String: Int64], holds: [String: [String: Int64]]) {
        try pool.read { db in
            var onHand: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT sku, on_hand FROM item") { onHand[row["sku"]] = row["on_hand"] }
            var holds: [String: [String: Int64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tx, sku, quantity FROM hold") {
                let tx: String = row["tx"]
                holds[tx, default: [:]][row["sku"]] = row["quantity"]
            }
            return (onHand, holds)
        }
    }

    /// Sets an item's quantity on hand behind every transaction's back: for tests that plant damage.
    public func plant(sku: String, onHand: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO item (sku, on_hand) VALUES (?, ?)", arguments: [sku, onHand])
        }
    }
}
