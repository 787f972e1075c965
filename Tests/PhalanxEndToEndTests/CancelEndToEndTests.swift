import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// `phalanx cancel` reaches a handler running on a worker, and a queued task never runs.
    @Suite(.timeLimit(.minutes(1))) struct CancelEndToEndTests {
        @Test func cancellingStopsARunningSleepOnItsWorkerAndAQueuedTaskNeverRuns() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 1)
            try await client.submit([
                TaskRequest(taskID: "long", kind: "sleep", text: "60000"), TaskRequest(taskID: "queued", kind: "sleep", text: "60000"),
            ])
            try await eventually("the long task runs") { try await client.status().tasksRunning == 1 }

            let started = ContinuousClock.now
            let cancelled = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["long", "queued", "nope"])
            #expect(cancelled.status == 1 && cancelled.stdout.contains("long cancelled") && cancelled.stdout.contains("queued cancelled"))
            #expect(cancelled.stdout.contains("nope was not queued or running"), "\(cancelled.stdout)")
            let long = await client.outcome(of: "long")
            let stoppedAfter = ContinuousClock.now - started
            let queued = await client.outcome(of: "queued")
            guard case .failure(let longError) = long.result, case .failure(let queuedError) = queued.result else {
                Issue.record("expected both cancelled: \(long.result) \(queued.result)")
                return
            }
            #expect(longError.code == .cancelled && long.worker == "w1" && longError.originNode == "w1", "\(longError)")
            #expect(stoppedAfter < .seconds(5), "a 60 s sleep stopped after \(stoppedAfter) (the cancel command included)")
            #expect(queuedError.code == .cancelled && queued.worker == nil && queuedError.message.contains("was not run"))
            #expect(cluster.log("w1").contains("cancelling tasks at the coordinator's request"))
            // The worker is free again at once.
            #expect(try await client.run([TaskRequest(taskID: "after", kind: "echo", text: "free")])[0].outputText == "free")
            await client.close()
        }
    }
}
