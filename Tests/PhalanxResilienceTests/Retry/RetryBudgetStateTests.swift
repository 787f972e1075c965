import Testing

@testable import PhalanxResilience

@Suite struct RetryBudgetStateTests {
    @Test func retriesAreCappedAtTheRatioOfCallsPlusTheFloor() {
        var budget = RetryBudgetState(ratio: 0.1, minimumRetriesPerWindow: 2, window: .seconds(10))
        for _ in 0..<100 { budget.recordCall(at: .seconds(1)) }
        var granted = 0
        for _ in 0..<1_000 where budget.withdrawRetry(at: .seconds(1)) { granted += 1 }
        #expect(granted == 12)  // 2 + 10 % of 100
    }

    @Test func theWindowSlidesSoTheBudgetRefills() {
        var budget = RetryBudgetState(ratio: 0, minimumRetriesPerWindow: 3, window: .seconds(10))
        let early = (0..<3).map { _ in budget.withdrawRetry(at: .seconds(0)) }
        #expect(early == [true, true, true])
        let spent = budget.withdrawRetry(at: .seconds(5))
        #expect(!spent)
        let refilled = budget.withdrawRetry(at: .seconds(11))
        #expect(refilled)
    }
}
