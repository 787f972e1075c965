/// A min-heap of (deadline, task) pairs: the earliest deadline first, in O(log n) per change.
/// Entries are not removed when their task finishes early; the owner skips those it no longer
/// holds, and drops them in bulk (``removeAll(where:)``) before they outnumber the tasks it holds.
struct DeadlineQueue: Sendable {
    private var heap: [(deadline: Duration, task: TaskNumber)] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    /// The earliest deadline held.
    var earliest: Duration? { heap.first?.deadline }

    mutating func insert(_ task: TaskNumber, deadline: Duration) {
        heap.append((deadline, task))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns every task whose deadline is at or before `now`.
    mutating func popExpired(at now: Duration) -> [TaskNumber] {
        var expired: [TaskNumber] = []
        while let first = heap.first, first.deadline <= now {
            expired.append(first.task)
            removeFirst()
        }
        return expired
    }

    /// Drops the entries of the tasks `isGone` picks, in O(n).
    mutating func removeAll(where isGone: (TaskNumber) -> Bool) {
        heap.removeAll { isGone($0.task) }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(from: index) }
    }

    private mutating func removeFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
