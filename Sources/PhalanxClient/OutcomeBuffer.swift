import PhalanxResilience

/// Outcomes that arrived before anyone asked for them, bounded by count and by bytes.
///
/// Past the byte bound the oldest outcomes give up their bytes but keep their place (evicted):
/// the coordinator keeps every result in its ledger, so ``take(_:)`` says so and the client asks
/// for it again. Past the count bound the oldest are discarded whole, so a program that submits
/// without ever collecting outcomes cannot grow without limit.
struct OutcomeBuffer: Sendable {
    /// What ``take(_:)`` found for a task.
    enum Taken: Sendable {
        case outcome(TaskOutcome)
        /// It arrived, and its bytes were given up to stay within the byte bound.
        case evicted
    }

    let maximumCount: Int
    let maximumBytes: Int
    /// nil: evicted. Each outcome is boxed: a table of 20,000 entries moves its values on every
    /// removal (Swift's hash tables shift the entries after a removed one), and an outcome inline
    /// is a few hundred bytes. Inline, `take` was 10 % of the bench client's samples.
    private var outcomes: [String: (outcome: Stored?, bytes: Int, sequence: UInt64)] = [:]
    /// Arrival order; an entry whose sequence no longer matches its outcome's is stale (taken or replaced).
    private var order: [(taskID: String, sequence: UInt64)] = []
    /// Where discarding starts in `order`.
    private var head = 0
    /// Where evicting starts in `order` (at or after `head`: the entries before it hold no bytes to give up).
    private var evictHead = 0
    private var nextSequence: UInt64 = 0
    private(set) var bytes = 0
    private(set) var discarded = 0
    private(set) var evicted = 0

    init(maximumCount: Int, maximumBytes: Int) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
    }

    var count: Int { outcomes.count }

    /// What an evicted outcome still takes: its id and its entry.
    static func evictedBytes(_ taskID: String) -> Int { taskID.utf8.count + 64 }

    mutating func insert(_ outcome: TaskOutcome) {
        let size = outcome.approximateBytes
        nextSequence += 1
        if let previous = outcomes.updateValue((Stored(outcome), size, nextSequence), forKey: outcome.taskID) {
            bytes -= previous.bytes
        }
        order.append((outcome.taskID, nextSequence))
        bytes += size
        // Past the byte bound, the oldest give up their bytes; the newest is always kept whole.
        evictHead = max(evictHead, head)
        while bytes > maximumBytes, evictHead < order.count - 1 {
            let oldest = order[evictHead]
            evictHead += 1
            guard let entry = outcomes[oldest.taskID], entry.sequence == oldest.sequence, entry.outcome != nil else { continue }
            let kept = Self.evictedBytes(oldest.taskID)
            outcomes[oldest.taskID] = (nil, kept, entry.sequence)
            bytes -= entry.bytes - kept
            evicted += 1
        }
        // Past the count bound (or the byte bound, with nothing left to evict), the oldest are discarded.
        while outcomes.count > maximumCount || (bytes > maximumBytes && outcomes.count > 1) {
            guard head < order.count else { break }
            let oldest = order[head]
            head += 1
            if let entry = outcomes[oldest.taskID], entry.sequence == oldest.sequence {
                outcomes[oldest.taskID] = nil
                bytes -= entry.bytes
                discarded += 1
            }
        }
        if head > 1_024 && head * 2 > order.count {
            order.removeFirst(head)
            evictHead = max(0, evictHead - head)
            head = 0
        }
    }

    func contains(_ taskID: String) -> Bool { outcomes[taskID] != nil }

    mutating func take(_ taskID: String) -> Taken? {
        guard let entry = outcomes.removeValue(forKey: taskID) else { return nil }
        bytes -= entry.bytes
        return entry.outcome.map { .outcome($0.outcome) } ?? .evicted
    }

    /// An outcome kept by reference.
    private final class Stored: Sendable {
        let outcome: TaskOutcome
        init(_ outcome: TaskOutcome) { self.outcome = outcome }
    }
}

extension TaskOutcome {
    /// Roughly what this outcome holds in memory.
    var approximateBytes: Int {
        switch result {
        case .success(let bytes): bytes.count + taskID.utf8.count + 64
        case .failure(let error): error.message.utf8.count + taskID.utf8.count + 256
        }
    }
}
