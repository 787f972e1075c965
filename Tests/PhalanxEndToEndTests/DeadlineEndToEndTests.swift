import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A queued task whose deadline passes finishes DEADLINE_EXCEEDED without being dispatched, in its own trace.
    @Suite(.timeLimit(.minutes(1))) struct DeadlineEndToEndTests {
        @Test func aTaskOfAKindNoWorkerServesEndsDeadlineExceededWithItsTraceID() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])

            let trace = TraceContext.newTrace()
            let outcome = try await TraceContext.$current.withValue(trace) {
                try await client.run([TaskRequest(taskID: "orphan", kind: "nobody-serves-this", text: "", timeout: .milliseconds(500))])[0]
            }
            guard case .failure(let error) = outcome.result else {
                Issue.record("expected DEADLINE_EXCEEDED, got \(outcome.result)")
                return
            }
            #expect(error.code == .deadlineExceeded && error.originNode == "coordinator" && error.taskID == "orphan")
            #expect(error.traceID == trace.traceID, "the coordinator's error carries the submitter's trace id")
            #expect(error.message.contains("was not run"))
            let status = try await client.status()
            #expect(status.tasksExpired == 1 && status.tasksQueued == 0 && status.tasksFailed == 1)
            #expect(status.workers.first?.finished == 0, "it was never dispatched")
            await client.close()
        }
    }
}
