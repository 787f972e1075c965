import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A SubmitAck counts exactly the tasks that will get a result; refusals are whole and say why.
    @Suite(.timeLimit(.minutes(1))) struct AdmissionEndToEndTests {
        static var noRetry: PhalanxClient.Settings {
            var settings = PhalanxClient.Settings()
            settings.overloadRetryWindow = .zero
            return settings
        }

        @Test func duplicateAndMalformedBatchesAreRefusedWholeWithTheirTraceAndNothingRuns() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let admin = try await cluster.startWithWorkers(["w1"], client: "admin")
            let raw = try await cluster.rawPeer()
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736"

            try await raw.submit(requestID: 1, [(id: "a", kind: "echo", payload: []), (id: "a", kind: "echo", payload: [])], traceID: trace)
            let duplicate = try #require(await raw.acknowledgement(of: 1))
            #expect(duplicate.accepted == 0 && duplicate.error.code == .invalidArgument && duplicate.error.taskID == "a")
            #expect(duplicate.error.message.contains("appears twice") && duplicate.error.traceID == trace)

            try await raw.submit(requestID: 2, [(id: "b", kind: "echo", payload: [])], traceID: trace.uppercased())
            let upperCase = try #require(await raw.acknowledgement(of: 2))
            #expect(upperCase.accepted == 0 && upperCase.error.code == .invalidArgument && upperCase.error.message.contains("W3C trace context"))

            try await raw.submit(requestID: 3, [(id: "running", kind: "sleep", payload: Array("500".utf8))])
            #expect(await raw.acknowledgement(of: 3)?.accepted == 1)
            try await raw.submit(requestID: 4, [(id: "fresh", kind: "echo", payload: []), (id: "running", kind: "echo", payload: [])])
            let resubmitted = try #require(await raw.acknowledgement(of: 4))
            #expect(resubmitted.accepted == 0 && resubmitted.error.message.contains("already queued or running"))
            #expect(resubmitted.error.traceID.count == 32 && resubmitted.error.originNode == "coordinator")

            try await eventually("the one accepted task reports") { !raw.results.isEmpty }
            #expect(try await admin.status().tasksAccepted == 1)
            #expect(raw.results.map(\.taskID) == ["running"], "refused tasks never report")
            await admin.close()
        }

        @Test func aBatchLargerThanTheFreeQueueSpaceIsRefusedWholeWithRetryAfter() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.max_queued_tasks=10"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()  // no worker: everything stays queued
            let client = try await cluster.client(settings: Self.noRetry)
            try await client.submit((0..<8).map { TaskRequest(taskID: "q-\($0)", kind: "echo", text: "") })
            let refused = await #expect(throws: ErrorContext.self) {
                try await client.submit((0..<5).map { TaskRequest(taskID: "more-\($0)", kind: "echo", text: "") })
            }
            #expect(refused?.code == .overloaded && refused?.retryAfter != nil && refused?.message.contains("max_queued_tasks") == true)
            let status = try await client.status()
            #expect(status.tasksAccepted == 8 && status.tasksQueued == 8, "none of the five was taken")
            await client.close()
        }

        @Test func queuedPayloadBytesAreBoundedNotOnlyTaskCounts() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.max_queued_bytes=3145728"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let client = try await cluster.client(settings: Self.noRetry)
            let mebibyte = [UInt8](repeating: 7, count: 1_048_576)
            try await client.submit((0..<3).map { TaskRequest(taskID: "m-\($0)", kind: "echo", payload: mebibyte) })
            let refused = await #expect(throws: ErrorContext.self) {
                try await client.submit([TaskRequest(taskID: "one-more-byte", kind: "echo", payload: [1])])
            }
            #expect(refused?.code == .overloaded && refused?.message.contains("coordinator.max_queued_bytes") == true)
            let status = try await client.status()
            #expect(status.queuedBytes == 3 * 1_048_576 && status.tasksAccepted == 3)
            await client.close()
        }

        /// More outcomes than the client's byte bound arrive before they are asked for: the oldest
        /// give up their bytes and are asked for again when wanted; every one comes back, whole.
        /// (Before, they were discarded: `submit --wait` of 20,000 tasks with 16 kB outputs
        /// reported the first 3,320, which had succeeded, as failed.)
        @Test func outcomesPastTheClientsByteBoundAreAskedForAgainNotLost() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")
            var settings = PhalanxClient.Settings()
            settings.maximumBufferedOutcomeBytes = 1_048_576
            let client = try await cluster.client(settings: settings)
            try await cluster.waitForWorkers(1, using: client)
            let requests = (0..<300).map { TaskRequest(taskID: "big-\($0)", kind: "echo", payload: [UInt8](repeating: UInt8($0 % 251), count: 16_000)) }
            try await client.submit(requests)
            try await eventually("every task finished") { try await client.status().tasksSucceeded == 300 }  // 4.8 MB of outcomes wait
            for request in requests {
                let outcome = await client.outcome(of: request.taskID)
                #expect((try? outcome.result.get()) == request.payload, "\(request.taskID): \(outcome.result)")
            }
            #expect(await client.resultsReceived > 300, "some outcomes were asked for again")
            await client.close()
        }

        @Test func aPartlyAcceptedSubmitNamesTheRefusedTasksAndTheCLIPrintsNoIdsForABatchRefusedWhole() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.max_queued_bytes=4194304", "admission.burst=100"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()  // no worker: everything stays queued
            let client = try await cluster.client(settings: Self.noRetry)
            let mebibyte = [UInt8](repeating: 7, count: 1_048_576)
            let ids = (0..<5).map { "p-\($0)" }
            // Frames of three and two tasks (4 MiB frames): the first fits the queue's bytes, the second does not.
            let refused = await #expect(throws: ErrorContext.self) {
                try await client.submit(ids.map { TaskRequest(taskID: $0, kind: "echo", payload: mebibyte) })
            }
            #expect(refused?.code == .overloaded && refused?.message.contains("3 of 5 tasks were accepted (and will run); 2 were refused ('p-3', 'p-4')") == true,
                "\(String(describing: refused))")
            #expect(await client.awaiting(ids) == ["p-0", "p-1", "p-2"])
            await client.close()

            let whole = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--count", "250"])
            #expect(whole.status == 1 && whole.stderr.contains("admission burst of 100"), "\(whole.stderr)")
            #expect(!whole.stderr.contains("task id"), "nothing was accepted, so no ids are offered: \(whole.stderr)")
            let json = try ClusterProcesses.runToCompletion(["submit", "--json"] + cluster.clientArguments + ["--kind", "echo", "--count", "250"])
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(json.status == 1 && (object?["accepted_or_maybe_accepted_task_ids"] as? [String]) == [], "\(json.stdout)")
            #expect((object?["error"] as? [String: Any])?["code"] as? String == "INVALID_ARGUMENT", "\(json.stdout)")
        }

        @Test func aClientOverItsAdmissionRateGetsOverloadedWithRetryAfterAndTheClientRetriesWithinItsWindow() async throws {
            let cluster = try ClusterProcesses(settings: ["admission.tasks_per_second=20", "admission.burst=20"])
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")
            let impatient = try await cluster.client(settings: Self.noRetry)
            try await cluster.waitForWorkers(1, using: impatient)
            try await impatient.submit((0..<20).map { TaskRequest(taskID: "burst-\($0)", kind: "echo", text: "") })
            let refused = await #expect(throws: ErrorContext.self) {
                try await impatient.submit((0..<10).map { TaskRequest(taskID: "over-\($0)", kind: "echo", text: "") })
            }
            #expect(refused?.code == .overloaded && refused?.message.contains("admission rate") == true)
            let retryAfter = try #require(refused?.retryAfter)
            #expect(retryAfter > .milliseconds(300) && retryAfter <= .milliseconds(500), "10 tasks at 20/s: about 500 ms")

            // The bucket is per certificate name: a second connection of the same client shares it, and
            // the default client waits the retry-after and succeeds.
            let patient = try await cluster.client()
            let outcomes = try await patient.run((0..<10).map { TaskRequest(taskID: "later-\($0)", kind: "echo", text: "ok") })
            #expect(outcomes.allSatisfy { $0.outputText == "ok" })
            // The CLI says why it is quiet while it waits out a retry-after.
            let cli = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "x", "--count", "30", "--batch", "20", "--wait"])
            #expect(cli.status == 0 && cli.stdout.contains("30 task(s): 30 succeeded"), "\(cli)")
            #expect(cli.stderr.components(separatedBy: "the coordinator is overloaded").count == 2, "told once: \(cli.stderr)")
            await impatient.close()
            await patient.close()
        }

        /// A burst below the CLI's 1,000-task requests: the refusal says how to submit, and `--batch` does it.
        @Test func aBurstSmallerThanTheCLIsRequestsIsNamedAndSubmitBatchFitsIt() async throws {
            let cluster = try ClusterProcesses(settings: ["admission.burst=100"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            let whole = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "x", "--count", "150"])
            #expect(whole.status == 1 && whole.stderr.contains("larger than this client's admission burst of 100") && whole.stderr.contains("--batch 100"), "\(whole)")
            let batched = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "x", "--count", "150", "--batch", "100", "--wait"])
            #expect(batched.status == 0 && batched.stdout.contains("150 task(s): 150 succeeded"), "\(batched)")
            let bad = try ClusterProcesses.runToCompletion(["submit"] + cluster.clientArguments + ["--kind", "echo", "--batch", "1001"])
            #expect(bad.status == 2 && bad.stderr.contains("--batch must be in 1...1000"), "\(bad)")
            await client.close()
        }
    }
}
