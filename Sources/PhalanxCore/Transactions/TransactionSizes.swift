/// How many bytes the parts of a transaction take on the wire and in memory (estimates that never
/// fall short: each field counts its bytes plus a generous allowance for protobuf's tags and
/// lengths). They bound the values a transaction may read, so that every vote and every reply
/// fits its receiver's frames, and the bytes the coordinator holds for transactions.
extension StoreValue {
    public var estimatedBytes: Int {
        switch self {
        case .integer: 12
        case .bytes(let bytes): bytes.count + 6
        }
    }
}

extension StoreOperation {
    public var estimatedBytes: Int {
        switch self {
        case .get(let key), .delete(let key): key.utf8.count + 16
        case .put(let key, let value, _): key.utf8.count + value.estimatedBytes + 28
        case .add(let key, _, _): key.utf8.count + 40
        case .resource(let operation): operation.resource.utf8.count + operation.action.utf8.count + operation.key.utf8.count + operation.argument.count + 32
        }
    }
}

extension ParticipantOperations {
    public var estimatedBytes: Int {
        operations.reduce(participant.utf8.count + 16) { $0 + $1.estimatedBytes }
    }
}

extension [ParticipantOperations] {
    /// The operations of a whole transaction.
    public var estimatedBytes: Int { reduce(0) { $0 + $1.estimatedBytes } }
}

extension TransactionLimits {
    /// What a frame of `maximumFrameBytes` leaves for the values a transaction reads: the rest
    /// (4 KiB) holds the ids, the trace and an error.
    public static func readBudget(forFrameBytes maximumFrameBytes: Int) -> Int {
        max(0, maximumFrameBytes - 4_096)
    }

    /// The bytes `reads` of `participant` take in a vote or a reply (each read names its participant).
    public static func readBytes(_ reads: [String: StoreValue?], participant: String) -> Int {
        reads.reduce(0) { $0 + $1.key.utf8.count + participant.utf8.count + ($1.value?.estimatedBytes ?? 0) + 16 }
    }

    /// Why `reads` cannot be sent in `budget` bytes, or nil when they can.
    static func readsProblem(bytes: Int, budget: Int, on place: String) -> String? {
        guard bytes > budget else { return nil }
        return "the values this transaction reads \(place) take about \(bytes) bytes, more than the \(budget) bytes of values one frame carries (limits.max_frame_bytes less 4 KiB); read fewer or smaller values per transaction"
    }
}
