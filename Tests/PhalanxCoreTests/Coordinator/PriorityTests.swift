import PhalanxResilience
import Testing

@testable import PhalanxCore

@Suite struct PriorityTests {
    @Test func lanesAreServedFourToTwoToOneAndFIFOWithinALane() {
        var queue = TaskQueue()
        for number in 1...8 { queue.append(TaskNumber(number), priority: .high) }
        for number in 11...14 { queue.append(TaskNumber(number), priority: .normal) }
        for number in 21...22 { queue.append(TaskNumber(number), priority: .low) }
        var order: [TaskNumber] = []
        while let next = queue.popFirst() { order.append(next) }
        #expect(order == [1, 2, 3, 4, 11, 12, 21, 5, 6, 7, 8, 13, 14, 22])
    }

    @Test func aLowPriorityTaskIsNeverStarvedByAStreamOfHighOnes() {
        var queue = TaskQueue()
        queue.append(999, priority: .low)
        var next: TaskNumber = 0
        var dispatchedBeforeLow = 0
        for _ in 0..<100 {
            // Two new high tasks arrive for every one dispatched: the high lane never drains.
            for _ in 0..<2 {
                next += 1
                queue.append(next, priority: .high)
            }
            let popped = queue.popFirst()
            if popped == 999 { break }
            dispatchedBeforeLow += 1
        }
        #expect(dispatchedBeforeLow <= 4, "the low task waited \(dispatchedBeforeLow) dispatches")
    }

    @Test func anEmptyLaneGivesItsTurnAway() {
        var queue = TaskQueue()
        for number in 1...3 { queue.append(TaskNumber(number), priority: .low) }
        #expect([queue.popFirst(), queue.popFirst(), queue.popFirst(), queue.popFirst()] == [1, 2, 3, nil])
    }

    @Test func aRequeuedTaskGoesToTheFrontOfItsOwnLane() {
        var queue = TaskQueue()
        queue.append(1, priority: .low)
        queue.append(2, priority: .high)
        queue.prepend(3, priority: .low)
        #expect(queue.popFirst() == 2)
        #expect(queue.popFirst() == 3)
        #expect(queue.popFirst() == 1)
    }

    @Test func theCoordinatorDispatchesHighPriorityTasksFirstWithoutStarvingLowOnes() {
        var harness = MachineHarness()
        let client = harness.connect(.client, "app")
        var tasks: [SubmittedTask<String>] = []
        for index in 0..<3 {
            var low = harness.task("low\(index)")
            low.priority = .low
            tasks.append(low)
        }
        for index in 0..<6 {
            var high = harness.task("high\(index)")
            high.priority = .high
            tasks.append(high)
        }
        _ = harness.submit(tasks, from: client)
        let (worker, registered) = harness.worker("w1", capacity: 6)
        #expect(registered.dispatched(to: worker).map(\.spec) == ["high0", "high1", "high2", "high3", "low0", "high4"])
    }
}
