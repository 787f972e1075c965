/// The admission logic of a bulkhead as a pure value: a fixed number of slots and a bounded,
/// first-come-first-served wait queue. Waiters are named by ids the owner chooses.
public struct BulkheadState: Sendable {
    /// The answer to a request for a slot.
    public enum Admission: Sendable, Hashable {
        /// A slot is yours now.
        case admitted
        /// No slot free; you wait in the queue under your id.
        case enqueued
        /// No slot free and the queue is full.
        case rejected
    }

    public let maxConcurrentCalls: Int
    public let maxWaitingCalls: Int
    /// Slots in use now.
    public private(set) var activeCalls = 0
    private var queue: [UInt64] = []
    private var queueHead = 0
    private var waiting: Set<UInt64> = []

    public init(maxConcurrentCalls: Int, maxWaitingCalls: Int) {
        precondition(maxConcurrentCalls >= 1 && maxWaitingCalls >= 0, "a bulkhead needs a slot and a non-negative queue")
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxWaitingCalls = maxWaitingCalls
    }

    /// Callers waiting now.
    public var waitingCalls: Int { waiting.count }

    /// Asks for a slot for waiter `id`.
    public mutating func requestSlot(id: UInt64) -> Admission {
        if activeCalls < maxConcurrentCalls && waiting.isEmpty {
            activeCalls += 1
            return .admitted
        }
        guard waiting.count < maxWaitingCalls else { return .rejected }
        queue.append(id)
        waiting.insert(id)
        return .enqueued
    }

    /// Frees a slot; returns the waiter that now holds it, if one was waiting (the slot passes straight to it).
    public mutating func releaseSlot() -> UInt64? {
        precondition(activeCalls > 0, "a bulkhead slot was released more often than it was taken")
        while queueHead < queue.count {
            let next = queue[queueHead]
            queueHead += 1
            compactQueue()
            if waiting.remove(next) != nil { return next }
        }
        activeCalls -= 1
        return nil
    }

    /// Takes waiter `id` out of the queue (it was cancelled or timed out); false if it was not waiting.
    public mutating func abandon(id: UInt64) -> Bool {
        guard waiting.remove(id) != nil else { return false }
        if waiting.isEmpty {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        }
        return true
    }

    private mutating func compactQueue() {
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }
}
