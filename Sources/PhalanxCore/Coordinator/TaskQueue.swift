/// How urgent a task is. Higher priorities are dispatched more often, never exclusively: see ``TaskQueue``.
public enum TaskPriority: Int, Sendable, Hashable, CaseIterable {
    case high = 0
    case normal = 1
    case low = 2

    /// Dispatches per round of weighted round robin (4 : 2 : 1).
    var weight: Int { [4, 2, 1][rawValue] }
}

/// The queue of one task kind: a FIFO lane per priority with O(1) push, pop and push-to-front.
/// Lanes are served by weighted round robin — per round up to 4 high, 2 normal and 1 low, skipping
/// empty lanes — so a low-priority task waits at most a few rounds however many high ones arrive.
struct TaskQueue: Sendable {
    private var lanes = [Lane](repeating: Lane(), count: TaskPriority.allCases.count)
    private var credits = TaskPriority.allCases.map(\.weight)

    private struct Lane: Sendable {
        var front: [TaskNumber] = []  // reversed: the last element is the head
        var back: [TaskNumber] = []

        var isEmpty: Bool { front.isEmpty && back.isEmpty }
        var count: Int { front.count + back.count }

        mutating func popFirst() -> TaskNumber? {
            if front.isEmpty {
                guard !back.isEmpty else { return nil }
                front = back.reversed()
                back.removeAll(keepingCapacity: true)
            }
            return front.popLast()
        }
    }

    var isEmpty: Bool { lanes.allSatisfy(\.isEmpty) }
    var count: Int { lanes.reduce(0) { $0 + $1.count } }

    mutating func append(_ task: TaskNumber, priority: TaskPriority = .normal) { lanes[priority.rawValue].back.append(task) }

    mutating func prepend(_ task: TaskNumber, priority: TaskPriority = .normal) { lanes[priority.rawValue].front.append(task) }

    /// The next task by weighted round robin over the non-empty lanes.
    mutating func popFirst() -> TaskNumber? {
        guard !isEmpty else { return nil }
        if !lanes.indices.contains(where: { credits[$0] > 0 && !lanes[$0].isEmpty }) {
            credits = TaskPriority.allCases.map(\.weight)  // a new round
        }
        for lane in lanes.indices where credits[lane] > 0 && !lanes[lane].isEmpty {
            credits[lane] -= 1
            return lanes[lane].popFirst()
        }
        return nil
    }

    /// Keeps only the tasks for which `keep` is true, in order.
    mutating func retain(where keep: (TaskNumber) -> Bool) {
        for lane in lanes.indices {
            lanes[lane].front = lanes[lane].front.filter(keep)
            lanes[lane].back = lanes[lane].back.filter(keep)
        }
    }
}
