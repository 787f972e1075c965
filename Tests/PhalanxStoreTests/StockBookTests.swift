import Foundation
import Testing

@testable import PhalanxStore

/// The example resource's book on a real SQLite file: holds counted per item and transaction,
/// idempotent hooks, and compensations that cannot take back what is gone.
@Suite struct StockBookTests {
    func book() throws -> StockBook {
        try StockBook(path: FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(UUID().uuidString).sqlite").path)
    }

    func line(_ sku: String, _ quantity: Int64) -> StockBook.Line { StockBook.Line(sku: sku, quantity: quantity) }

    @Test func twoLinesOnOneItemCountTogetherAtTheLimitAndPastIt() throws {
        let stock = try book()
        try stock.hold("seed", [line("a", 10)])
        try stock.confirm("seed")
        #expect(throws: StockBook.Shortage.self) { try stock.hold("t1", [line("a", -5), line("a", -6)]) }
        #expect(try stock.state().holds.isEmpty, "a refused transaction places nothing")
        try stock.hold("t2", [line("a", -5), line("a", -5)])
        #expect(try stock.state().holds == ["t2": ["a": -10]])
        try stock.confirm("t2")
        try stock.confirm("t2")
        #expect(try stock.state().onHand == ["a": 0], "taken out once")
    }

    @Test func anotherTransactionsHoldCountsAgainstWhatIsAvailable() throws {
        let stock = try book()
        try stock.hold("seed", [line("a", 3)])
        try stock.confirm("seed")
        try stock.hold("t1", [line("a", -2)])
        #expect(throws: StockBook.Shortage.self) { try stock.hold("t2", [line("a", -2)]) }
        try stock.release("t1")
        try stock.hold("t2", [line("a", -2)])
        #expect(throws: StockBook.Shortage.self, "a hold after its transaction was released is refused") { try stock.hold("t1", [line("a", -1)]) }
    }

    @Test func aCompensatedRestockTakesBackOnlyWhatIsStillThereAndOnce() throws {
        let stock = try book()
        try stock.hold("restock", [line("a", 5)])
        try stock.confirm("restock")
        try stock.hold("sale", [line("a", -4)])
        try stock.confirm("sale")
        try stock.reverse("undo-restock", [line("a", 5)])
        #expect(try stock.state().onHand == ["a": 0], "1 was left to take back, not 5: never below 0")
        try stock.reverse("undo-restock", [line("a", 5)])
        #expect(try stock.state().onHand == ["a": 0])
        try stock.reverse("undo-sale", [line("a", -4)])
        #expect(try stock.state().onHand == ["a": 4], "what was taken out is given back in full")
    }
}
