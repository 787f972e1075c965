import Testing

@testable import PhalanxResilience

@Suite struct BulkheadStateTests {
    @Test func admitsUpToTheLimitThenQueuesThenRejects() {
        var state = BulkheadState(maxConcurrentCalls: 2, maxWaitingCalls: 1)
        #expect(state.requestSlot(id: 1) == .admitted)
        #expect(state.requestSlot(id: 2) == .admitted)
        #expect(state.requestSlot(id: 3) == .enqueued)
        #expect(state.requestSlot(id: 4) == .rejected)
        #expect(state.activeCalls == 2 && state.waitingCalls == 1)
    }

    @Test func aReleasedSlotPassesToTheOldestWaiter() {
        var state = BulkheadState(maxConcurrentCalls: 1, maxWaitingCalls: 3)
        _ = state.requestSlot(id: 1)
        for id in 2...4 { _ = state.requestSlot(id: UInt64(id)) }
        #expect(state.releaseSlot() == 2)
        #expect(state.releaseSlot() == 3)
        #expect(state.activeCalls == 1)
    }

    @Test func abandonedWaitersAreSkipped() {
        var state = BulkheadState(maxConcurrentCalls: 1, maxWaitingCalls: 3)
        _ = state.requestSlot(id: 1)
        _ = state.requestSlot(id: 2)
        _ = state.requestSlot(id: 3)
        #expect(state.abandon(id: 2) == true)
        #expect(state.abandon(id: 2) == false)
        #expect(state.releaseSlot() == 3)
        #expect(state.releaseSlot() == nil)
        #expect(state.activeCalls == 0)
    }

    @Test func newcomersDoNotOvertakeWaiters() {
        var state = BulkheadState(maxConcurrentCalls: 1, maxWaitingCalls: 2)
        _ = state.requestSlot(id: 1)
        _ = state.requestSlot(id: 2)
        // The slot went straight to waiter 2; a newcomer must queue.
        #expect(state.releaseSlot() == 2)
        #expect(state.requestSlot(id: 3) == .enqueued)
    }
}
