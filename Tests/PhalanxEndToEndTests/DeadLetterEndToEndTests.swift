import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A poison task — one whose worker dies every time it runs it (here the test kills the worker
    /// running it, as a crashing handler would) — lands in the dead-letter queue after
    /// coordinator.max_attempts losses; an admin lists it, retries it and purges the queue.
    @Suite(.timeLimit(.minutes(1))) struct DeadLetterEndToEndTests {
        @Test func aTaskThatKillsItsWorkerThreeTimesLandsInTheDeadLetterQueueAndAnAdminRetriesIt() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.max_attempts=3"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2", "w3"], capacity: 1)
            try await client.submit([TaskRequest(taskID: "poison", kind: "sleep", text: "60000")])

            var killed: [String] = []
            for _ in 0..<3 {
                var runner = ""
                try await eventually("the poison task runs on a live worker") {
                    runner = try await client.status().workers.first { $0.inFlight == 1 && !killed.contains($0.name) }?.name ?? ""
                    return !runner.isEmpty
                }
                cluster.kill(runner)
                killed.append(runner)
            }
            let outcome = await client.outcome(of: "poison")
            guard case .failure(let error) = outcome.result else {
                Issue.record("expected WORKER_LOST, got \(outcome.result)")
                return
            }
            #expect(error.code == .workerLost && error.message.contains("dead-letter queue"), "\(error)")
            #expect(Set(killed).count == 3)
            // The two attempts lost before it are in its history, with the worker each ran on.
            #expect(outcome.history.map(\.attempt) == [1, 2] && outcome.history.map(\.worker) == Array(killed.prefix(2)), "\(outcome.history)")
            #expect(outcome.history.allSatisfy { $0.error.code == .workerLost }, "\(outcome.history)")
            let shown = try ClusterProcesses.runToCompletion(["result", "--json"] + cluster.clientArguments + ["poison"])
            let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            let history = ((report?["results"] as? [[String: Any]])?.first?["history"] as? [[String: Any]]) ?? []
            #expect(history.map { $0["worker"] as? String } == killed.prefix(2).map { $0 }, "\(shown.stdout)\(shown.stderr)")
            #expect(history.allSatisfy { $0["code"] as? String == "WORKER_LOST" }, "\(shown.stdout)")

            let listed = try ClusterProcesses.runToCompletion(["dlq", "list", "--json"] + cluster.clientArguments)
            #expect(listed.status == 0 && listed.stdout.contains("\"task_id\":\"poison\"") && listed.stdout.contains("WORKER_LOST"), "\(listed.stdout)\(listed.stderr)")
            let asClient = try ClusterProcesses.runToCompletion(["dlq", "list", "--name", "client"] + cluster.clientArguments)
            #expect(asClient.status == 1 && asClient.stderr.contains("PERMISSION_DENIED"), "only admins: \(asClient.stderr)")

            try cluster.startWorker("w1", capacity: 1, logName: "w1-again")
            try await eventually("a worker is back") { try await client.status().workers.count == 1 }
            let retried = try ClusterProcesses.runToCompletion(["dlq", "retry", "client/poison"] + cluster.clientArguments)
            #expect(retried.status == 0 && retried.stdout.contains("retried client/poison"), "\(retried.stdout)\(retried.stderr)")
            // The retry's reply comes once the removal is durable: a list right after it is empty.
            let empty = try ClusterProcesses.runToCompletion(["dlq", "list"] + cluster.clientArguments)
            #expect(empty.stdout.contains("the dead-letter queue is empty"), "\(empty.stdout)")
            try await eventually("the retried task runs again") { try await client.status().tasksRunning == 1 }
            let missing = try ClusterProcesses.runToCompletion(["dlq", "purge", "client/never"] + cluster.clientArguments)
            #expect(missing.status == 1 && missing.stdout.contains("client/never is not in the dead-letter queue"))
            let usage = try ClusterProcesses.runToCompletion(["dlq", "retry"] + cluster.clientArguments)
            #expect(usage.status == 2, "\(usage.stderr)")

            // The client that submitted it collects the new outcome by id.
            let cancel = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["poison"])
            #expect(cancel.status == 0, "\(cancel.stdout)\(cancel.stderr)")
            let again = try await cluster.client()
            _ = try await again.attach(["poison"])
            if case .failure(let final) = await again.outcome(of: "poison").result { #expect(final.code == .cancelled) }
            await again.close()
            await client.close()
        }

        /// A poison task takes down its worker with every task on it: the healthy task that shared
        /// the worker lost it too, but on its last chance each runs alone, so only the poison task
        /// is dead-lettered.
        @Test func aHealthyTaskThatSharedAWorkerWithAPoisonTaskIsNotDeadLettered() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.max_attempts=2"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let poisoned = ["PHALANX_FAILPOINTS": "task.after_effect_committed"]  // every `deposit` kills its worker
            try cluster.startWorker("w1", capacity: 4, environment: poisoned)
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            try await client.submit([TaskRequest(taskID: "healthy", kind: "sleep", text: "1500")])
            try await eventually("the healthy task runs") { try await client.status().tasksRunning == 1 }
            try await client.submit([TaskRequest(taskID: "poison", kind: "deposit", text: "w1:acct:5")])
            #expect(try await cluster.waitForExit("w1", within: .seconds(15)) == 86, "the deposit killed w1, and the healthy task with it")

            try cluster.startWorker("w1", capacity: 4, logName: "w1-second", environment: poisoned)
            #expect(try await cluster.waitForExit("w1-second", within: .seconds(15)) == 86, "the poison task ran again (alone) and killed w1 again")
            try cluster.startWorker("w1", capacity: 4, logName: "w1-third", environment: poisoned)

            let healthy = await client.outcome(of: "healthy")
            guard case .success = healthy.result else {
                Issue.record("the healthy task should finish on its second attempt, got \(healthy.result)")
                return
            }
            #expect(healthy.attempt == 2 && healthy.history.map(\.error.code) == [.workerLost], "\(healthy.history)")
            let poison = await client.outcome(of: "poison")
            guard case .failure(let error) = poison.result else {
                Issue.record("expected the poison task to be dead-lettered, got \(poison.result)")
                return
            }
            #expect(error.code == .workerLost && error.message.contains("the last time while it ran alone on w1"), "\(error)")
            let listed = try ClusterProcesses.runToCompletion(["dlq", "list", "--json"] + cluster.clientArguments)
            #expect(listed.stdout.contains("\"task_id\":\"poison\"") && !listed.stdout.contains("healthy"), "\(listed.stdout)\(listed.stderr)")
            await client.close()
        }
    }
}
