import Foundation

/// Cuts lists of messages into frames that stay within the receiver's frame limit, by bytes as
/// well as by count. Every path that sends a batch (dispatch, results, submit) goes through here,
/// so no frame a Phalanx node sends can exceed the limit its peer announced in Hello.
public enum FrameBudget {
    /// Bytes kept per frame for the Envelope and batch wrapping.
    public static let envelopeOverheadBytes = 64

    /// Splits `items` into consecutive runs of at most `maximumCount` whose estimated sizes fit
    /// `maximumFrameBytes`. An item that cannot fit a frame even alone is returned in `oversized`.
    public static func chunks<Item>(
        _ items: [Item], maximumFrameBytes: Int, maximumCount: Int = .max, size: (Item) -> Int
    ) -> (chunks: [[Item]], oversized: [Item]) {
        let budget = maximumFrameBytes - envelopeOverheadBytes
        var chunks: [[Item]] = []
        var oversized: [Item] = []
        var current: [Item] = []
        var currentBytes = 0
        for item in items {
            let bytes = size(item)
            if bytes > budget {
                oversized.append(item)
                continue
            }
            if !current.isEmpty && (currentBytes + bytes > budget || current.count >= maximumCount) {
                chunks.append(current)
                current = []
                currentBytes = 0
            }
            current.append(item)
            currentBytes += bytes
        }
        if !current.isEmpty { chunks.append(current) }
        return (chunks, oversized)
    }
}

extension Phalanx_V1_TaskSpec {
    /// An upper bound of this task's serialized size, every field counted (a tag and up to a
    /// 5-byte length for each string, bytes and message field, a tag and up to 10 bytes for each
    /// number): a client cuts its submit frames by it without serializing every task up front.
    /// (An estimate that left out the idempotency key once made frames over the limit.)
    public var estimatedWireBytes: Int {
        payload.count + taskID.utf8.count + kind.utf8.count + idempotencyKey.utf8.count + trace.traceID.utf8.count + trace.spanID.utf8.count + 80
    }
}

extension Phalanx_V1_TaskRef {
    /// An upper bound of this reference's encoded size inside a HandBack or CancelAttempts
    /// (a 10-byte dispatch id, a 5-byte attempt, their tags, its length and its own tag).
    public static let maximumWireBytes = 20

    /// The envelopes that carry `references` to a peer whose frames hold `maximumFrameBytes`:
    /// as many as they need, each within the limit (`wrap` makes one envelope of a run of them).
    public static func frames(
        _ references: [Phalanx_V1_TaskRef], maximumFrameBytes: Int, wrap: ([Phalanx_V1_TaskRef]) -> Phalanx_V1_Envelope
    ) -> [Phalanx_V1_Envelope] {
        FrameBudget.chunks(references, maximumFrameBytes: maximumFrameBytes) { _ in maximumWireBytes }.chunks.map(wrap)
    }
}


extension Phalanx_V1_TaskResult {
    /// An upper bound of this result's encoded size inside a ResultBatch (its history included:
    /// each earlier attempt, retried or lost with its worker, carries an error).
    public var estimatedWireBytes: Int {
        let outcomeBytes: Int
        switch outcome {
        case .output(let data): outcomeBytes = data.count
        case .error(let error): outcomeBytes = Self.encodedBytes(of: error)
        case nil: outcomeBytes = 0
        }
        let historyBytes = history.reduce(0) { $0 + $1.worker.utf8.count + Self.encodedBytes(of: $1.error) + 24 }
        return outcomeBytes + historyBytes + taskID.utf8.count + originalTaskID.utf8.count + worker.utf8.count + 64
    }

    private static func encodedBytes(of error: Phalanx_V1_ErrorContext) -> Int {
        (try? error.serializedBytes() as [UInt8])?.count ?? 0
    }
}
