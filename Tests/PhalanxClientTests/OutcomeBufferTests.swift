import PhalanxResilience
import Testing

@testable import PhalanxClient

@Suite struct OutcomeBufferTests {
    func outcome(_ id: String, bytes: Int = 0) -> TaskOutcome {
        TaskOutcome(taskID: id, worker: "w1", attempt: 1, result: .success(Array(repeating: 7, count: bytes)))
    }

    @Test func keepsOutcomesUntilTakenAndGivesTheirBytesBack() {
        var buffer = OutcomeBuffer(maximumCount: 10, maximumBytes: 1_000_000)
        buffer.insert(outcome("a", bytes: 100))
        buffer.insert(outcome("b", bytes: 200))
        #expect(buffer.count == 2)
        #expect(buffer.take("a").map { if case .outcome(let o) = $0 { o.taskID } else { "evicted" } } == "a")
        #expect(buffer.take("a") == nil)
        #expect(buffer.bytes == outcome("b", bytes: 200).approximateBytes)
        #expect(buffer.discarded == 0)
    }

    @Test func atTheCountLimitNothingIsDiscardedAndOneMoreDiscardsTheOldest() {
        var buffer = OutcomeBuffer(maximumCount: 3, maximumBytes: 1_000_000)
        for id in ["a", "b", "c"] { buffer.insert(outcome(id)) }
        #expect(buffer.count == 3 && buffer.discarded == 0)
        buffer.insert(outcome("d"))
        #expect(buffer.count == 3 && buffer.discarded == 1)
        #expect(buffer.take("a") == nil)
        #expect(buffer.take("b") != nil && buffer.take("d") != nil)
    }

    @Test func atTheByteLimitNothingIsEvictedAndOneByteMoreEvictsTheOldestWhichKeepsItsPlace() {
        let size = outcome("a", bytes: 1_000).approximateBytes
        var buffer = OutcomeBuffer(maximumCount: 100, maximumBytes: 2 * size)
        buffer.insert(outcome("a", bytes: 1_000))
        buffer.insert(outcome("b", bytes: 1_000))
        #expect(buffer.count == 2 && buffer.bytes == 2 * size && buffer.evicted == 0)
        buffer.insert(outcome("c", bytes: 0))
        #expect(buffer.evicted == 1 && buffer.discarded == 0 && buffer.count == 3)
        #expect(buffer.bytes <= 2 * size)
        #expect(buffer.contains("a"))
        guard case .evicted? = buffer.take("a") else {
            Issue.record("a was not evicted")
            return
        }
        guard case .outcome(let b)? = buffer.take("b") else {
            Issue.record("b was evicted too")
            return
        }
        #expect(b.taskID == "b")
        #expect(buffer.take("a") == nil)
    }

    /// 20,000 outcomes of 16 kB each, far past a 256 MiB bound: each is kept whole or evicted (to
    /// be asked for again), none discarded, and the buffer holds no more than its bound.
    @Test func outcomesPastTheByteBoundAreEvictedNotDiscarded() {
        let bound = 256 * 1024 * 1024
        var buffer = OutcomeBuffer(maximumCount: 1_000_000, maximumBytes: bound)
        for index in 0..<20_000 { buffer.insert(outcome("t\(index)", bytes: 16_000)) }
        #expect(buffer.count == 20_000 && buffer.discarded == 0 && buffer.evicted > 3_000)
        #expect(buffer.bytes <= bound)
        var whole = 0
        var evicted = 0
        for index in 0..<20_000 {
            switch buffer.take("t\(index)") {
            case .outcome?: whole += 1
            case .evicted?: evicted += 1
            case nil: Issue.record("t\(index) was lost")
            }
        }
        #expect(evicted == buffer.evicted && whole + evicted == 20_000)
        #expect(buffer.bytes == 0 && buffer.count == 0)
    }

    @Test func evictedOutcomesAreDiscardedInTurnPastTheCountBound() {
        let size = outcome("a", bytes: 1_000).approximateBytes
        var buffer = OutcomeBuffer(maximumCount: 3, maximumBytes: size + 1_000)  // one whole, and what evicted ones keep
        for id in ["a", "b", "c", "d"] { buffer.insert(outcome(id, bytes: 1_000)) }
        #expect(buffer.count == 3 && buffer.discarded == 1 && buffer.evicted == 3)
        #expect(buffer.take("a") == nil)
        guard case .outcome? = buffer.take("d"), case .evicted? = buffer.take("b"), case .evicted? = buffer.take("c") else {
            Issue.record("the newest must stay whole and the others evicted")
            return
        }
    }

    @Test func oneOutcomeLargerThanTheByteLimitIsStillKept() {
        var buffer = OutcomeBuffer(maximumCount: 100, maximumBytes: 10)
        buffer.insert(outcome("big", bytes: 5_000))
        #expect(buffer.take("big") != nil)
    }

    @Test func anIdTakenAndArrivingAgainIsTheNewestNotTheOldest() {
        var buffer = OutcomeBuffer(maximumCount: 2, maximumBytes: 1_000_000)
        buffer.insert(outcome("a"))
        _ = buffer.take("a")
        buffer.insert(outcome("b"))
        buffer.insert(outcome("a"))  // "a" again, after "b"
        buffer.insert(outcome("c"))  // over the limit: "b" is the oldest held
        #expect(buffer.take("b") == nil)
        #expect(buffer.take("a") != nil && buffer.take("c") != nil)
    }

    @Test func manyOutcomesNeverHoldMoreThanTheBound() {
        var buffer = OutcomeBuffer(maximumCount: 1_000, maximumBytes: 1_000_000)
        for index in 0..<50_000 { buffer.insert(outcome("t\(index)", bytes: 10)) }
        #expect(buffer.count == 1_000)
        #expect(buffer.discarded == 49_000)
        #expect(buffer.take("t49999") != nil && buffer.take("t48999") == nil)
    }
}
