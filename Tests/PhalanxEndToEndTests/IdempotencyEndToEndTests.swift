import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Idempotency keys: a resubmission with the key of an earlier task never runs; it gets that
    /// task's result — from another process with the same certificate, and after `kill -9` of the coordinator.
    @Suite(.timeLimit(.minutes(1))) struct IdempotencyEndToEndTests {
        @Test func aResubmissionWithTheSameKeyGetsTheFirstResultAndNeverRunsAlsoAfterACoordinatorKill() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let first = try await cluster.startWithWorkers(["w1"])
            var charge = TaskRequest(taskID: "pay-1", kind: "echo", text: "charged once")
            charge.idempotencyKey = "order-42"
            let original = try await first.run([charge])[0]
            #expect(original.outputText == "charged once" && original.original == nil)

            // Another process with the same certificate retries under a new task id.
            let second = try await cluster.client()
            var retry = TaskRequest(taskID: "pay-1-retry", kind: "echo", text: "charged once")
            retry.idempotencyKey = "order-42"
            let duplicate = try await second.run([retry])[0]
            // The key stands for that request: another payload under it is a mistake, refused.
            var misuse = TaskRequest(taskID: "pay-2", kind: "echo", text: "charged twice")
            misuse.idempotencyKey = "order-42"
            await #expect(throws: ErrorContext.self) { try await second.submit([misuse]) }
            #expect(duplicate.taskID == "pay-1-retry" && duplicate.original == "pay-1")
            #expect(duplicate.outputText == "charged once" && duplicate.attempt == original.attempt && duplicate.worker == "w1")
            let status = try await second.status()
            #expect(status.tasksAccepted == 1 && status.tasksSucceeded == 1)  // the retry was not run
            await first.close()
            await second.close()

            // The key survives kill -9 of the coordinator: the CLI run again still runs nothing.
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            let (code, stdout, stderr) = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "charged once", "--idempotency-key", "order-42", "--wait"])
            #expect(code == 0, "\(stderr)")
            #expect(stdout.contains("the result of earlier task pay-1, same idempotency key") && stdout.contains(": charged once"), "\(stdout)")
            let after = try await cluster.client()
            #expect(try await after.status().tasksAccepted == 0)
            // The ledger kept what the key stood for: another payload is still refused after the restart.
            let (misuseCode, _, misuseError) = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "charged thrice", "--idempotency-key", "order-42"])
            #expect(misuseCode == 1 && misuseError.contains("reuses idempotency key 'order-42' of task pay-1"), "\(misuseError)")
            await after.close()
            // The resubmission answers by its own id too.
            let (lookupCode, lookup, _) = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["pay-1-retry"])
            #expect(lookupCode == 0 && lookup.contains("pay-1-retry ok") && lookup.contains("charged once"), "\(lookup)")
        }

        @Test func aResubmissionOfARunningTaskKeepsItsOutcomeAcrossACoordinatorKill() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            var original = TaskRequest(taskID: "slow", kind: "sleep", text: "1500")
            original.idempotencyKey = "job-9"
            var retry = TaskRequest(taskID: "slow-again", kind: "sleep", text: "1500")
            retry.idempotencyKey = "job-9"
            try await client.submit([original])
            #expect(try await client.submit([retry]).duplicates == 1)  // acknowledged: durable, as an alias
            cluster.kill("coordinator")
            await client.close()

            try await cluster.startCoordinator()
            let again = try await cluster.client()
            let lookup = try await again.attach(["slow-again"])
            #expect(lookup.pending == ["slow-again"] && lookup.unknown.isEmpty)
            let outcome = await again.outcome(of: "slow-again")
            #expect(outcome.outputText == "1500" && outcome.original == "slow", "\(outcome.result)")
            await again.close()
        }
    }
}
