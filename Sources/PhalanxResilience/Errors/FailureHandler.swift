/// The global fallback (layer 4): turns any error into an ``ErrorContext`` without losing what it knew.
///
/// Known shapes keep their code and class: an ``ErrorContext`` passes through (missing trace, node,
/// task and attempt are filled in), a ``ClassifiedError`` keeps its code and class, and a
/// `CancellationError` becomes `CANCELLED`. Anything else becomes `INTERNAL` (a system failure),
/// with the error's type and text kept as its cause so the log still explains it.
public struct FailureHandler: Sendable {
    /// The node name stamped as `originNode` on failures that do not carry one yet.
    public var node: String?

    public init(node: String? = nil) {
        self.node = node
    }

    /// The context for `error`, stamped with the given trace (the current one by default), task and attempt.
    public func context(
        for error: any Error,
        trace: TraceContext? = TraceContext.current,
        taskID: String? = nil,
        attempt: Int? = nil
    ) -> ErrorContext {
        var context: ErrorContext
        switch error {
        case let known as ErrorContext:
            context = known
        case let classified as any ClassifiedError:
            context = ErrorContext(code: classified.code, message: classified.message, failureClass: classified.failureClass)
        case is CancellationError:
            context = ErrorContext(code: .cancelled, message: "the work was cancelled")
        default:
            let typeName = String(reflecting: type(of: error))
            context = ErrorContext(
                code: .internal,
                message: "unclassified error \(typeName): \(String(describing: error))",
                failureClass: .system,
                causes: [ErrorContext(code: .internal, message: "\(typeName): \(String(reflecting: error))", failureClass: .system)])
        }
        if context.traceID == nil { context.traceID = trace?.traceID }
        if context.spanID == nil { context.spanID = trace?.spanID }
        if context.originNode == nil { context.originNode = node }
        if context.taskID == nil { context.taskID = taskID }
        if context.attempt == nil { context.attempt = attempt }
        return context
    }
}
