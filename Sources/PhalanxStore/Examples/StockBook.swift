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

    /// Places the holds of `tx` (nothing if they are already placed). A line taking out more than
    /// is on hand and not held by other transactions throws ``Shortage`` and places nothing.
    public func hold(_ tx: String, _ lines: [Line]) throws {
        try pool.write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM done WHERE tx = ?", arguments: [tx]) ?? 0 > 0 {
                throw Shortage(description: "transaction \(tx) already ended here")
            }
            for line in lines {
                if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hold WHERE tx = ? AND sku = ?", arguments: [tx, line.sku]) ?? 0 > 0 { continue }
                if line.quantity < 0 {
                    let onHand = try Int64.fetchOne(db, sql: "SELECT on_hand FROM item WHERE sku = ?", arguments: [line.sku]) ?? 0
                    let held = try Int64.fetchOne(db, sql: "SELECT COALESCE(-SUM(quantity), 0) FROM hold WHERE sku = ? AND quantity < 0", arguments: [line.sku]) ?? 0
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
                try db.execute(
                    sql: "INSERT INTO item (sku, on_hand) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET on_hand = on_hand + excluded.on_hand",
                    arguments: [sku, quantity])
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

    /// Undoes `lines` that committed earlier, once per compensating transaction `tx`.
    public func reverse(_ tx: String, _ lines: [Line]) throws {
        try pool.write { db in
            for line in lines {
                if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM done WHERE tx = ? AND sku = ?", arguments: [tx, line.sku]) ?? 0 > 0 { continue }
                try db.execute(
                    sql: "INSERT INTO item (sku, on_hand) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET on_hand = on_hand + excluded.on_hand",
                    arguments: [line.sku, -line.quantity])
                try db.execute(sql: "INSERT INTO done (tx, sku, outcome, quantity) VALUES (?, ?, 'compensated', ?)", arguments: [tx, line.sku, -line.quantity])
            }
        }
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
