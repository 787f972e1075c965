import Foundation
import Clocks
import Synchronization
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

    /// Releases admit waiters while the waiters are being cancelled. A release once resumed the
    /// next waiter under the bulkhead's lock while a cancel of that waiter held the waiter's own
    /// lock and waited for the bulkhead's (its cancellation handler): both waited for good, and a
    /// worker froze. The waiters run and the cancels come on threads of their own (not Swift's
    /// cooperative pool), so that a deadlock leaves the test free to report it.
    @Test func cancellingWaitersWhileSlotsAreReleasedNeverDeadlocks() async throws {
        let bulkhead = try Bulkhead(
            name: "slots", configuration: .init(maxConcurrentCalls: 1, maxWaitingCalls: 100_000, maxWaitDuration: nil), clock: ContinuousClock())
        let executor = DispatchQueueExecutor()
        for round in 0..<20 {
            try await bulkhead.acquire()
            // Counted apart from the tasks and the bulkhead: a deadlock holds their locks.
            let ended = EndedCount()
            let waiters = (0..<1_000).map { _ in
                Task(executorPreference: executor) {
                    defer { ended.count.withLock { $0 += 1 } }
                    guard (try? await bulkhead.acquire()) != nil else { return }
                    bulkhead.release()
                }
            }
            while bulkhead.waitingCalls < waiters.count / 2 { await Task.yield() }
            let cancelled = DispatchSemaphore(value: 0)
            let canceller = Thread {
                for (index, waiter) in waiters.enumerated() where index % 2 == 1 { waiter.cancel() }
                cancelled.signal()
            }
            canceller.start()
            Task(executorPreference: executor) { bulkhead.release() }  // the admitted waiters release in turn, racing the cancels
            let giveUp = ContinuousClock.now + .seconds(30)
            while ended.count.withLock({ $0 }) < waiters.count, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(1)) }
            let finished = ended.count.withLock { $0 } == waiters.count
            #expect(finished, "round \(round): waiters were still stuck after 30 s (a release and a cancel deadlocked)")
            guard finished else { return }
            cancelled.wait()
            #expect(bulkhead.activeCalls == 0 && bulkhead.waitingCalls == 0)
        }
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

/// Runs jobs on a concurrent dispatch queue: threads apart from Swift's cooperative pool.
final class DispatchQueueExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "phalanx.test-executor", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// How many tasks have ended.
final class EndedCount: Sendable {
    let count = Mutex(0)
}
