import PhalanxResilience
import PhalanxWire

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
