import PhalanxResilience

/// Outcomes that arrived before anyone asked for them, bounded by count and by bytes: past either
/// bound the oldest are discarded, so a program that submits without ever collecting outcomes
/// cannot grow without limit.
struct OutcomeBuffer: Sendable {
    let maximumCount: Int
    let maximumBytes: Int
    private var outcomes: [String: (outcome: TaskOutcome, bytes: Int, sequence: UInt64)] = [:]
    /// Arrival order; an entry whose sequence no longer matches its outcome's is stale (taken or replaced).
    private var order: [(taskID: String, sequence: UInt64)] = []
    private var head = 0
    private var nextSequence: UInt64 = 0
    private(set) var bytes = 0
    private(set) var discarded = 0

    init(maximumCount: Int, maximumBytes: Int) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
    }

    var count: Int { outcomes.count }

    mutating func insert(_ outcome: TaskOutcome) {
        let size = outcome.approximateBytes
        nextSequence += 1
        if let previous = outcomes.updateValue((outcome, size, nextSequence), forKey: outcome.taskID) {
            bytes -= previous.bytes
        }
        order.append((outcome.taskID, nextSequence))
        bytes += size
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
            head = 0
        }
    }

    func contains(_ taskID: String) -> Bool { outcomes[taskID] != nil }

    mutating func take(_ taskID: String) -> TaskOutcome? {
        guard let entry = outcomes.removeValue(forKey: taskID) else { return nil }
        bytes -= entry.bytes
        return entry.outcome
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
