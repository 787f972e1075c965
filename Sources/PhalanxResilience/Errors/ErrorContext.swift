/// The one shape in which a failure travels: across task boundaries, across nodes, into logs.
///
/// It keeps what a person needs to explain the failure later: the code, a message, the trace it
/// belongs to, the node it came from, the task and attempt, whether a retry may help, and the
/// chain of causes that led to it (outermost first).
public struct ErrorContext: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var failureClass: FailureClass
    public var traceID: String?
    public var spanID: String?
    public var originNode: String?
    public var taskID: String?
    public var attempt: Int?
    /// The causes of this failure, nearest first. Each is a full context of its own.
    public var causes: [ErrorContext]
    /// For `OVERLOADED` and `CIRCUIT_OPEN`: when trying again may succeed.
    public var retryAfter: Duration?

    public init(
        code: ErrorCode,
        message: String,
        failureClass: FailureClass? = nil,
        traceID: String? = nil,
        spanID: String? = nil,
        originNode: String? = nil,
        taskID: String? = nil,
        attempt: Int? = nil,
        causes: [ErrorContext] = []
    ) {
        self.code = code
        self.message = message
        self.failureClass = failureClass ?? code.defaultFailureClass
        self.traceID = traceID
        self.spanID = spanID
        self.originNode = originNode
        self.taskID = taskID
        self.attempt = attempt
        self.causes = causes
    }

    /// Whether a retry may help: only system failures are retried.
    public var retryable: Bool { failureClass.isRetryable }

    /// An `INVALID_ARGUMENT` naming a component's setting and what it expects, for configuration checks.
    public static func invalidSetting(_ component: String, _ key: String, _ expected: String) -> ErrorContext {
        ErrorContext(code: .invalidArgument, message: "\(component) setting \(key): expected \(expected)")
    }

    /// This context wrapped as the cause of a new, outer failure.
    public func wrapped(in code: ErrorCode, _ message: String, failureClass: FailureClass? = nil) -> ErrorContext {
        var outer = ErrorContext(
            code: code, message: message, failureClass: failureClass,
            traceID: traceID, spanID: spanID, originNode: originNode, taskID: taskID, attempt: attempt)
        outer.causes = [self]
        return outer
    }

    public var description: String {
        var text = "\(code.rawValue) (\(failureClass.rawValue)): \(message)"
        var tags: [String] = []
        if let originNode { tags.append("node=\(originNode)") }
        if let taskID { tags.append("task=\(taskID)") }
        if let attempt { tags.append("attempt=\(attempt)") }
        if let traceID { tags.append("trace=\(traceID)") }
        if let retryAfter { tags.append("retry_after=\(retryAfter)") }
        if !tags.isEmpty { text += " [" + tags.joined(separator: " ") + "]" }
        for cause in causes { text += "\n  caused by: " + cause.description.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ") }
        return text
    }
}

extension ErrorContext: ClassifiedError {}
