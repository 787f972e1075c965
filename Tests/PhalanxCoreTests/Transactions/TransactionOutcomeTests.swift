import PhalanxResilience
import Testing

@testable import PhalanxCore

@Suite struct TransactionOutcomeTests {
    @Test func anUnknownOutcomeNamesItsTransactionAndOtherErrorsDoNot() {
        let id = "7d3c2b1a-0000-4000-8000-000000000001"
        let unknown = ErrorContext(code: .unavailable, message: TransactionOutcome.unknownOutcomeMessage(id: id, cause: "the connection ended"))
        #expect(TransactionOutcome.isUnknownOutcome(unknown))
        #expect(TransactionOutcome.unknownOutcomeID(unknown) == id)
        #expect(unknown.message.contains("phalanx tx show \(id)") && unknown.message.contains("the connection ended"))
        // An id with the separator's words in it still comes back whole up to the first separator.
        #expect(TransactionOutcome.unknownOutcomeID(ErrorContext(code: .unavailable, message: TransactionOutcome.unknownOutcomeMessage(id: "a b", cause: "x"))) == "a b")
        #expect(TransactionOutcome.unknownOutcomeID(ErrorContext(code: .conflict, message: "the key is locked")) == nil)
        #expect(TransactionOutcome.unknownOutcomeID(ErrorContext(code: .unavailable, message: TransactionOutcome.unknownOutcomePrefix)) == nil)
        #expect(!TransactionOutcome.isUnknownOutcome(CancellationError()))
    }
}
