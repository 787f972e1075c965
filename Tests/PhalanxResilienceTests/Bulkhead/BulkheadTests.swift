import Clocks
import Testing

@testable import PhalanxResilience

@Suite struct BulkheadTests {
    @Test func neverExceedsItsLimitUnderTenThousandConcurrentCallers() async throws {
        // No timing is asserted here; the real clock keeps ten thousand wait timers cheap.
        let clock = ContinuousClock()
        let bulkhead = try Bulkhead(
            name: "db",
            configuration: .init(maxConcurrentCalls: 8, maxWaitingCalls: 10_000, maxWaitDuration: .seconds(60)),
            clock: clock)
        let inside = Locked(0)
        let peak = Locked(0)
        let completed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<10_000 {
                group.addTask {
                    do {
                        try await bulkhead.run {
                            let now = inside.withLock { $0 += 1; return $0 }
                            peak.withLock { $0 = max($0, now) }
                            await Task.yield()
                            inside.withLock { $0 -= 1 }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var completed = 0
            for await ok in group where ok { completed += 1 }
            return completed
        }
        #expect(completed == 10_000)
        #expect(peak.value <= 8)
        #expect(peak.value >= 1)
        #expect(bulkhead.activeCalls == 0 && bulkhead.waitingCalls == 0)
    }

    @Test func rejectsAtOnceWhenTheQueueIsFull() async throws {
        let clock = TestClock()
        let bulkhead = try Bulkhead(name: "db", configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 1), clock: clock)
        try await bulkhead.acquire()
        let waiter = Task { try await bulkhead.acquire() }
        try await eventually("one waiter") { bulkhead.waitingCalls == 1 }
        await #expect {
            try await bulkhead.acquire()
        } throws: { error in
            let context = error as? ErrorContext
            return context?.code == .bulkheadFull && context?.message.contains("'db'") == true
        }
        bulkhead.release()
        try await waiter.value
        #expect(bulkhead.activeCalls == 1)
    }

    @Test func aWaiterGivesUpAfterTheMaximumWait() async throws {
        let clock = TestClock()
        let bulkhead = try Bulkhead(
            name: "db", configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 5, maxWaitDuration: .seconds(2)), clock: clock)
        try await bulkhead.acquire()
        let waiter = Task { try await bulkhead.acquire() }
        try await eventually("one waiter") { bulkhead.waitingCalls == 1 }
        try await waitForSleeper(on: clock)
        await clock.advance(by: .seconds(2))
        await #expect { try await waiter.value } throws: { ($0 as? ErrorContext)?.code == .bulkheadFull }
        #expect(bulkhead.waitingCalls == 0)
        #expect(bulkhead.activeCalls == 1)
    }

    @Test func cancelledWaitersLeaveTheQueue() async throws {
        let clock = TestClock()
        let bulkhead = try Bulkhead(name: "db", configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 100), clock: clock)
        try await bulkhead.acquire()
        let waiters = (0..<50).map { _ in Task { try await bulkhead.acquire() } }
        try await eventually("fifty waiters") { bulkhead.waitingCalls == 50 }
        for waiter in waiters { waiter.cancel() }
        for waiter in waiters {
            await #expect { try await waiter.value } throws: { ($0 as? ErrorContext)?.code == .cancelled }
        }
        #expect(bulkhead.waitingCalls == 0)
        bulkhead.release()
        #expect(bulkhead.activeCalls == 0, "no cancelled waiter may have been handed the slot")
    }

    @Test func withoutAMaximumWaitAWaiterStartsNoTimerAndWaitsUntilAdmittedOrCancelled() async throws {
        let clock = TestClock()
        let bulkhead = try Bulkhead(
            name: "slots", configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 2, maxWaitDuration: nil), clock: clock)
        try await bulkhead.acquire()
        let admitted = Task { try await bulkhead.acquire() }
        let cancelled = Task { try await bulkhead.acquire() }
        try await eventually("two waiters") { bulkhead.waitingCalls == 2 }
        await clock.advance(by: .seconds(86_400 * 365))
        #expect(bulkhead.waitingCalls == 2, "no timer ends a wait")
        cancelled.cancel()
        await #expect { try await cancelled.value } throws: { ($0 as? ErrorContext)?.code == .cancelled }
        bulkhead.release()
        try await admitted.value
        #expect(bulkhead.activeCalls == 1 && bulkhead.waitingCalls == 0)
    }
}
