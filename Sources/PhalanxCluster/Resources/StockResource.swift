import PhalanxCore
import PhalanxStore

/// The example TCC resource every `phalanx worker` registers as `stock`: an inventory whose
/// transactions reserve items (`reserve`, taken out on commit) or add them (`restock`).
/// Prepare places a hold (refused when too little is available, counting other transactions'
/// holds; several operations on one item in a transaction count together), commit applies it,
/// abort releases it, compensate gives back what a committed transaction took out, or takes back
/// what it added as far as it is still there. Its book is `stock.sqlite` in the worker's
/// data directory, opened on first use.
///
/// On the CLI: `phalanx tx run 'w1:@stock/restock/sku-1=10'`, then
/// `phalanx tx run 'w1:@stock/reserve/sku-1=3' 'w2:alice-=30'`; in a saga, the undo
/// `w1:@stock` compensates what the step did to w1's stock.
public actor StockResource: TransactionalResource {
    public nonisolated let name: String
    public nonisolated let path: String
    private var opened: StockBook?

    public init(name: String = "stock", path: String) {
        self.name = name
        self.path = path
    }

    private func book() throws(LedgerError) -> StockBook {
        if let opened { return opened }
        let book = try StockBook(path: path)
        opened = book
        return book
    }

    /// The signed lines of `operations` (reserve takes out, restock adds).
    private func lines(_ operations: [ResourceOperation]) throws(ResourceRefusal) -> [StockBook.Line] {
        try operations.map { (operation) throws(ResourceRefusal) in
            guard let quantity = Int64(operation.argumentText), quantity > 0, quantity <= 1_000_000_000_000 else {
                throw ResourceRefusal("\(operation.action) \(operation.key): the quantity must be a whole number from 1 to 10^12, got '\(operation.argumentText)'")
            }
            switch operation.action {
            case "reserve": return StockBook.Line(sku: operation.key, quantity: -quantity)
            case "restock": return StockBook.Line(sku: operation.key, quantity: quantity)
            default: throw ResourceRefusal("stock has no action '\(operation.action)' (it has reserve and restock)")
            }
        }
    }

    public func prepare(_ transaction: ResourceTransaction) async throws {
        let lines = try lines(transaction.operations)
        do {
            try book().hold(transaction.id, lines)
        } catch let shortage as StockBook.Shortage {
            throw ResourceRefusal(shortage.description)
        }
    }

    public func commit(_ transaction: ResourceTransaction) async throws {
        try book().confirm(transaction.id)
    }

    public func abort(_ transaction: ResourceTransaction) async throws {
        try book().release(transaction.id)
    }

    public func compensate(_ transaction: ResourceTransaction) async throws {
        try book().reverse(transaction.id, try lines(transaction.operations))
    }

    /// Reservations held, and any item with less on hand than zero or than its holds take out.
    public func audit() async throws -> ResourceAuditReport {
        let state = try book().state()
        var problems: [String] = []
        var takenOut: [String: Int64] = [:]
        for holds in state.holds.values {
            for (sku, quantity) in holds where quantity < 0 { takenOut[sku, default: 0] -= quantity }
        }
        for (sku, onHand) in state.onHand.sorted(by: { $0.key < $1.key }) where onHand < 0 {
            problems.append("\(sku) has \(onHand) on hand, below 0")
        }
        for (sku, held) in takenOut.sorted(by: { $0.key < $1.key }) where held > state.onHand[sku] ?? 0 {
            problems.append("\(sku): holds take out \(held) but only \(state.onHand[sku] ?? 0) is on hand")
        }
        return ResourceAuditReport(reserved: state.holds.keys.sorted(), problems: problems)
    }
}
