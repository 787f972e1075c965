import PhalanxCore
import PhalanxWire

/// How a task's cluster-wide key travels to workers: `CLIENT/TASK_ID` in the task id field.
/// Node names cannot contain `/`, so the first `/` separates the two unambiguously.
enum TaskRouting {
    static func wireID(for key: TaskKey) -> String { "\(key.client)/\(key.taskID)" }

    static func key(fromWireID id: String) -> TaskKey? {
        guard let slash = id.firstIndex(of: "/") else { return nil }
        return TaskKey(client: String(id[..<slash]), taskID: String(id[id.index(after: slash)...]))
    }
}

/// Checks a submitted task before it is accepted; the answer says what is wrong and what to do.
enum TaskSpecValidation {
    static func problem(with spec: Phalanx_V1_TaskSpec, maximumPayloadBytes: Int) -> String? {
        if spec.taskID.isEmpty || spec.taskID.utf8.count > 256 {
            return "task_id must be 1-256 bytes (got \(spec.taskID.utf8.count)); give every task an id unique for this client"
        }
        if spec.kind.isEmpty || spec.kind.utf8.count > 64 {
            return "task \(spec.taskID): kind must be 1-64 bytes, e.g. echo, sleep, sha256, fail"
        }
        if spec.payload.count > maximumPayloadBytes {
            return "task \(spec.taskID): payload of \(spec.payload.count) bytes is above \(maximumPayloadBytes)"
        }
        return nil
    }
}
