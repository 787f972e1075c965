import Logging
import Metrics

/// Layer 1: the scope every task handler runs in.
///
/// It catches whatever the handler throws, classifies it through the ``FailureHandler``, counts it
/// in `phalanx_task_failures_total{class,code}` and logs it with the trace id, so no failure leaves
/// a task unexplained. The handler runs with the task's trace as ``TraceContext/current``.
public struct TaskBoundary: Sendable {
    /// The metric that counts every failure crossing a task boundary.
    public static let failuresMetric = "phalanx_task_failures_total"

    public var failureHandler: FailureHandler
    public var logger: Logger
    private let metricsFactory: any MetricsFactory

    public init(
        failureHandler: FailureHandler = FailureHandler(),
        logger: Logger = Logger(label: "phalanx.task"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.failureHandler = failureHandler
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    /// Runs `handler` as task `taskID`, attempt `attempt`, in `trace`; returns its value or its
    /// classified failure, counted and logged unless `recording` is false (the caller then
    /// ``record(_:)``s it once it knows the failure counts, e.g. not for an attempt handed back).
    public func run<Success>(
        taskID: String,
        attempt: Int = 1,
        trace: TraceContext,
        recording: Bool = true,
        _ handler: () async throws -> Success
    ) async throws(ErrorContext) -> Success {
        do {
            return try await TraceContext.$current.withValue(trace) {
                try await handler()
            }
        } catch {
            let context = failureHandler.context(for: error, trace: trace, taskID: taskID, attempt: attempt)
            if recording { record(context) }
            throw context
        }
    }

    /// Counts and logs a failure that has already been classified.
    public func record(_ context: ErrorContext) {
        Counter(
            label: Self.failuresMetric,
            dimensions: [("class", context.failureClass.rawValue), ("code", context.code.rawValue)],
            factory: metricsFactory
        ).increment()
        var metadata: Logger.Metadata = [
            "code": "\(context.code.rawValue)",
            "class": "\(context.failureClass.rawValue)",
        ]
        if let traceID = context.traceID { metadata["trace_id"] = "\(traceID)" }
        if let spanID = context.spanID { metadata["span_id"] = "\(spanID)" }
        if let taskID = context.taskID { metadata["task_id"] = "\(taskID)" }
        if let attempt = context.attempt { metadata["attempt"] = "\(attempt)" }
        if let node = context.originNode { metadata["origin_node"] = "\(node)" }
        let level: Logger.Level = context.failureClass == .business ? .info : .warning
        logger.log(level: level, "task failed: \(context.message)", metadata: metadata)
    }
}
