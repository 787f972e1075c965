/// A task's identity in the cluster: the submitting node's name plus the id it chose.
/// Two clients may use the same id; they are different tasks.
public struct TaskKey: Sendable, Hashable, CustomStringConvertible {
    public var client: String
    public var taskID: String

    public init(client: String, taskID: String) {
        self.client = client
        self.taskID = taskID
    }

    public var description: String { "\(client)/\(taskID)" }
}
