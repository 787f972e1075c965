/// How a failure is treated at the task boundary.
///
/// - `business`: the work itself was refused or invalid; returned to the caller, never retried.
/// - `system`: something around the work failed (a dependency, a timeout inside, a full queue); retried.
/// - `fatal`: the process running the work was lost; Swift cannot catch a trap, so the coordinator
///   detects the lost worker and re-queues the task.
public enum FailureClass: String, Sendable, Hashable, CaseIterable, Codable {
    case business
    case system
    case fatal

    /// Whether a retry policy may try the work again after a failure of this class.
    public var isRetryable: Bool { self == .system }
}
