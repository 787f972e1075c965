import Foundation
import PhalanxResilience

extension Phalanx_V1_TaskSpec {
    /// A spec with the fields every sender sets: a client's submit and a parent's children.
    public init(taskID: String, kind: String, payload: [UInt8], trace: TraceContext, deadlineUnixMilliseconds: Int64) {
        self.init(taskID: taskID, kind: kind, payload: Data(payload), trace: trace, deadlineUnixMilliseconds: deadlineUnixMilliseconds)
    }

    /// A spec whose payload shares `payload`'s storage (tasks of one submit with one payload hold it once).
    public init(taskID: String, kind: String, payload: Data, trace: TraceContext, deadlineUnixMilliseconds: Int64) {
        self.init()
        self.taskID = taskID
        self.kind = kind
        self.payload = payload
        self.trace.traceID = trace.traceID
        self.trace.spanID = trace.spanID
        self.deadlineUnixMs = deadlineUnixMilliseconds
    }
}
