import InMemoryLogging
import Logging
import MetricsTestKit
import Testing

@testable import PhalanxResilience

@Suite struct TaskBoundaryTests {
    @Test func failuresAreClassifiedCountedAndLoggedWithTheirTrace() async throws {
        let metrics = TestMetrics()
        let logs = InMemoryLogHandler()
        let boundary = TaskBoundary(
            failureHandler: FailureHandler(node: "w1"), logger: Logger(label: "test") { _ in logs }, metricsFactory: metrics)
        let trace = TraceContext.newTrace()
        await #expect {
            try await boundary.run(taskID: "t-7", attempt: 3, trace: trace) { throw SystemFailure() }
        } throws: { error in
            let context = error as? ErrorContext
            return context?.code == .unavailable && context?.taskID == "t-7" && context?.attempt == 3
                && context?.originNode == "w1" && context?.traceID == trace.traceID
        }
        let counter = try metrics.expectCounter("phalanx_task_failures_total", [("class", "system"), ("code", "UNAVAILABLE")])
        #expect(counter.totalValue == 1)
        let entry = try #require(logs.entries.first)
        #expect(entry.metadata["trace_id"] == "\(trace.traceID)")
        #expect(entry.metadata["task_id"] == "t-7")
        #expect(entry.level == .warning)
    }

    @Test func theHandlerSeesTheTaskTrace() async throws {
        let boundary = TaskBoundary(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, metricsFactory: TestMetrics())
        let trace = TraceContext.newTrace()
        let seen = try await boundary.run(taskID: "t-1", trace: trace) { TraceContext.current }
        #expect(seen == trace)
    }

    @Test func businessFailuresAreCountedUnderTheirOwnClass() async throws {
        let metrics = TestMetrics()
        let boundary = TaskBoundary(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, metricsFactory: metrics)
        _ = try? await boundary.run(taskID: "t-2", trace: .newTrace()) { throw BusinessFailure() }
        _ = try? await boundary.run(taskID: "t-3", trace: .newTrace()) { throw PlainError() }
        #expect(try metrics.expectCounter("phalanx_task_failures_total", [("class", "business"), ("code", "BUSINESS_REJECTED")]).totalValue == 1)
        #expect(try metrics.expectCounter("phalanx_task_failures_total", [("class", "system"), ("code", "INTERNAL")]).totalValue == 1)
    }
}
