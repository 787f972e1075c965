/// A FIFO of task numbers with O(1) push, pop and push-to-front.
struct TaskQueue: Sendable {
    private var front: [TaskNumber] = []  // reversed: the last element is the head
    private var back: [TaskNumber] = []

    var isEmpty: Bool { front.isEmpty && back.isEmpty }
    var count: Int { front.count + back.count }

    mutating func append(_ task: TaskNumber) { back.append(task) }

    mutating func prepend(_ task: TaskNumber) { front.append(task) }

    mutating func popFirst() -> TaskNumber? {
        if front.isEmpty {
            guard !back.isEmpty else { return nil }
            front = back.reversed()
            back.removeAll(keepingCapacity: true)
        }
        return front.popLast()
    }

    /// Keeps only the tasks for which `keep` is true, in order.
    mutating func retain(where keep: (TaskNumber) -> Bool) {
        front = front.filter(keep)
        back = back.filter(keep)
    }
}
