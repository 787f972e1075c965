import PhalanxResilience
import PhalanxWire

/// A finished task's result as the ledger stores it, on its way to a client, with the task's trace
/// id for an error about delivering it (nil for a result read back from the ledger).
struct SerializedResult: Sendable {
    let bytes: [UInt8]
    var traceID: String? = nil
}

extension Phalanx_V1_TaskResult {
    /// A failed result for `taskID` with `error`.
    static func failure(_ taskID: String, _ error: ErrorContext, attempt: UInt32 = 0) -> Phalanx_V1_TaskResult {
        var result = Phalanx_V1_TaskResult()
        result.taskID = taskID
        result.attempt = attempt
        result.error = error.wire
        return result
    }
}
