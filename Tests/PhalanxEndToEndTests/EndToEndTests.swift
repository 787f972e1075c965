import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Real processes on 127.0.0.1: a coordinator and workers started from the built `phalanx` binary.
    @Suite(.timeLimit(.minutes(1))) struct EndToEndTests {
        @Test func aThousandEchoTasksEachReturnExactlyOnceWithTheirPayload() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])

            let requests = (0..<1_000).map { TaskRequest(taskID: "echo-\($0)", kind: "echo", text: "payload-\($0)") }
            let outcomes = try await client.run(requests)
            #expect(outcomes.count == 1_000)
            for (index, outcome) in outcomes.enumerated() {
                #expect(outcome.taskID == "echo-\(index)")
                #expect(outcome.outputText == "payload-\(index)", "task \(index): \(outcome.result)")
            }
            #expect(Set(outcomes.compactMap(\.worker)) == ["w1", "w2"], "both workers should have served")
            let status = try await client.status()
            #expect(status.tasksAccepted == 1_000 && status.tasksSucceeded == 1_000 && status.tasksFailed == 0)
            #expect(await client.resultsReceived == 1_000, "every task reports exactly once")
            await client.close()
        }

        @Test func failTasksComeBackAsFailuresWithTheirClassOriginAndTrace() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])

            let outcomes = try await client.run([
                TaskRequest(taskID: "b", kind: "fail", text: "business"),
                TaskRequest(taskID: "s", kind: "fail", text: "system"),
                TaskRequest(taskID: "bad", kind: "sleep", text: "not-a-number"),
            ])
            guard case .failure(let business) = outcomes[0].result, case .failure(let system) = outcomes[1].result,
                case .failure(let invalid) = outcomes[2].result
            else {
                Issue.record("expected four failures, got \(outcomes.map(\.result))")
                return
            }
            #expect(business.code == .businessRejected && business.failureClass == .business)
            #expect(system.failureClass == .system && system.retryable)
            #expect(business.originNode == "w1" && business.taskID == "b" && business.traceID?.count == 32)
            // The same trace id in the client's error and in both nodes' log lines.
            let trace = try #require(business.traceID)
            try await eventually("both nodes log the failure with its trace id") {
                cluster.log("coordinator").contains("\"trace_id\":\"\(trace)\"") && cluster.log("w1").contains("\"trace_id\":\"\(trace)\"")
            }
            let coordinatorLine = cluster.log("coordinator").split(separator: "\n").first { $0.contains(trace) } ?? ""
            #expect(coordinatorLine.contains("\"task_id\":\"b\"") && coordinatorLine.contains("BUSINESS_REJECTED"), "\(coordinatorLine)")
            #expect(invalid.code == .invalidArgument && invalid.message.contains("not-a-number"))
            // A task the coordinator refuses is refused with its whole batch, as an error that says why.
            let refused = await #expect(throws: ErrorContext.self) {
                try await client.submit([TaskRequest(taskID: "fine", kind: "echo", text: ""), TaskRequest(taskID: "unknown", kind: "", text: "")])
            }
            #expect(refused?.code == .invalidArgument && refused?.originNode == "coordinator" && refused?.taskID == "unknown")
            #expect(refused?.message.contains("a kind is 1-64 bytes") == true && refused?.traceID?.count == 32)
            #expect(try await client.status().tasksAccepted == 3, "nothing of the refused batch was accepted")
            await client.close()
        }

        @Test func tasksOfAWorkerKilledMidTaskFinishOnAnotherWorker() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 10)

            let requests = (0..<10).map { TaskRequest(taskID: "sleep-\($0)", kind: "sleep", text: "400") }
            try await client.submit(requests)
            try await eventually("w1 runs all ten") { try await client.status().tasksRunning == 10 }
            try cluster.startWorker("w2", capacity: 10)
            try await cluster.waitForWorkers(2, using: client)
            cluster.kill("w1")

            var outcomes: [TaskOutcome] = []
            for request in requests { outcomes.append(await client.outcome(of: request.taskID)) }
            for outcome in outcomes {
                #expect(outcome.outputText == "400", "\(outcome.taskID): \(outcome.result)")
                #expect(outcome.worker == "w2" && outcome.attempt == 2)
            }
            #expect(await client.resultsReceived == 10)
            await client.close()
        }

        @Test func aTaskSubmittedWithATraceparentCarriesThatTraceToTheClientsErrorAndBothNodesLogs() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let (code, stdout, _) = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments
                    + ["--kind", "fail", "--payload", "business", "--traceparent", "00-\(trace)-00f067aa0ba902b7-01", "--wait", "--json"])
            #expect(code == 3 && stdout.contains("\"trace_id\":\"\(trace)\""), "\(stdout)")
            try await eventually("both nodes log the failure under the caller's trace id") {
                cluster.log("coordinator").contains("\"trace_id\":\"\(trace)\"") && cluster.log("w1").contains("\"trace_id\":\"\(trace)\"")
            }
            let (badCode, _, badError) = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--traceparent", "00-\(trace.uppercased())-00f067aa0ba902b7-01"])
            #expect(badCode == 2 && badError.contains("--traceparent must be a W3C traceparent"))
            await client.close()
        }

        @Test func twoThousandTasksOfFiftyMillisecondsThroughAWorkerKillEachEndWithExactlyOneResult() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"], capacity: 64)

            let requests = (0..<2_000).map { TaskRequest(taskID: "s\($0)", kind: "sleep", text: "50") }
            try await client.submit(requests)
            try await eventually("a quarter of them finished", within: .seconds(20)) { try await client.status().tasksSucceeded >= 500 }
            cluster.kill("w1")  // kill -9 with up to 64 of its tasks running

            var outcomes: [TaskOutcome] = []
            for request in requests { outcomes.append(await client.outcome(of: request.taskID)) }
            let failed = outcomes.filter { $0.outputText != "50" }
            #expect(failed.isEmpty, "\(failed.prefix(3).map { "\($0.taskID): \($0.result)" })")
            #expect(outcomes.contains { $0.attempt == 2 && $0.worker == "w2" }, "the tasks w1 was running ran again on w2")
            #expect(outcomes.allSatisfy { $0.attempt <= 2 })
            #expect(await client.resultsReceived == 2_000)  // no task reported twice
            let status = try await client.status()
            #expect(status.tasksSucceeded == 2_000 && status.tasksAccepted == 2_000 && status.tasksFailed == 0)
            await client.close()
        }

        @Test func aFrozenWorkerIsDeclaredDeadByHeartbeatsAndItsTasksFinishOnceElsewhere() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()  // heartbeats every 200 ms, dead after 5 missed
            try cluster.startWorker("w1", capacity: 10)
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)

            let requests = (0..<10).map { TaskRequest(taskID: "frozen-\($0)", kind: "sleep", text: "300") }
            try await client.submit(requests)
            try await eventually("w1 runs all ten") { try await client.status().tasksRunning == 10 }
            cluster.signal("w1", SIGSTOP)  // a GC pause or VM freeze: the connection stays open, heartbeats stop
            try cluster.startWorker("w2", capacity: 10)

            var outcomes: [TaskOutcome] = []
            for request in requests { outcomes.append(await client.outcome(of: request.taskID)) }
            for outcome in outcomes {
                #expect(outcome.outputText == "300", "\(outcome.taskID): \(outcome.result)")
                #expect(outcome.worker == "w2" && outcome.attempt == 2)
            }
            // The frozen worker wakes up with its old attempts still running: none of them may count.
            cluster.signal("w1", SIGCONT)
            try await eventually("w1 wakes, finds its connection gone and registers again") {
                cluster.log("w1").components(separatedBy: "registered with the coordinator").count == 3
            }
            #expect(await client.resultsReceived == 10)
            let status = try await client.status()
            #expect(status.tasksSucceeded == 10 && status.tasksAccepted == 10)
            await client.close()
        }

        @Test func aWrongConfigurationKeyStopsTheCoordinatorBeforeItListens() throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-config-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("bad.conf").path
            try "[coordinator]\nprot = 7400\n".write(toFile: file, atomically: true, encoding: .utf8)
            let (status, _, stderr) = try ClusterProcesses.runToCompletion(["coordinator", "--config", file])
            #expect(status == 2)
            #expect(stderr.contains("bad.conf") && stderr.contains("prot") && stderr.contains("known keys in [coordinator]"))

            try "[coordinator]\nport = \"high\"\n".write(toFile: file, atomically: true, encoding: .utf8)
            let (typeStatus, _, typeError) = try ClusterProcesses.runToCompletion(["coordinator", "--config", file])
            #expect(typeStatus == 2 && typeError.contains("port must be an integer"))

            let good = ClusterProcesses.repositoryRoot.appendingPathComponent("cluster.conf").path
            let (rangeStatus, _, rangeError) = try ClusterProcesses.runToCompletion(["worker", "--config", good, "--name", "w1", "--set", "worker.capacity=0"])
            #expect(rangeStatus == 2 && rangeError.contains("worker.capacity must be in 1...100000"))

            let (flagStatus, _, flagError) = try ClusterProcesses.runToCompletion(["coordinator", "--config", good, "--set", "limits.max_frame_bytes=abc"])
            #expect(flagStatus == 2 && flagError.contains("--set limits.max_frame_bytes=abc") && flagError.contains("must be an integer"))

            let (envStatus, _, envError) = try ClusterProcesses.runToCompletion(
                ["worker", "--config", good, "--name", "w1"], environment: ["PHALANX_WORKER_CAPACITY": "lots"])
            #expect(envStatus == 2 && envError.contains("PHALANX_WORKER_CAPACITY") && envError.contains("worker.capacity must be an integer"))
        }
    }
}
