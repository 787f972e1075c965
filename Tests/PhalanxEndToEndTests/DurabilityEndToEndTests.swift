import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// The task ledger: what was accepted survives `kill -9` of the coordinator, results a client
    /// saw are the ones kept, and clients re-attach by task id.
    @Suite(.timeLimit(.minutes(2))) struct DurabilityEndToEndTests {
        @Test func aCoordinatorKilledMidBatchLosesNoAcceptedTaskAndAClientReattachesToEveryOutcome() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"], capacity: 8)

            let ids = (0..<300).map { "t\($0)" }
            try await client.submit(ids.map { TaskRequest(taskID: $0, kind: "sleep", text: "20") })  // acknowledged: durable
            try await eventually("some outcomes arrive before the kill") { await client.resultsReceived >= 30 }
            cluster.kill("coordinator")
            var seenBeforeKill: [String: TaskOutcome] = [:]
            for id in ids {
                let outcome = await client.outcome(of: id)
                if case .success = outcome.result { seenBeforeKill[id] = outcome }
            }
            #expect(seenBeforeKill.count >= 30 && seenBeforeKill.count < 300)

            try await cluster.startCoordinator()  // the same port and data directory
            let again = try await cluster.client()
            let lookup = try await again.attach(ids)
            #expect(lookup.unknown.isEmpty, "the coordinator forgot accepted tasks: \(lookup.unknown.prefix(5))")
            var outcomes: [String: TaskOutcome] = [:]
            for id in ids { outcomes[id] = await again.outcome(of: id) }
            let failed = outcomes.values.filter { if case .failure = $0.result { true } else { false } }
            #expect(failed.isEmpty, "\(failed.prefix(3).map(\.result))")
            for (id, before) in seenBeforeKill {
                // A result a client saw is the one kept: not recomputed by another attempt.
                #expect(outcomes[id]?.attempt == before.attempt && outcomes[id]?.worker == before.worker, "\(id)")
            }
            #expect(await again.resultsReceived == 300)
            // Recovered: every task not durably finished before the kill (at least those still pending when
            // the client attached, at most those it had not seen finish).
            let recovered = Int(try await again.status().tasksRecovered)
            #expect(recovered >= lookup.pending.count && recovered <= 300 - seenBeforeKill.count && recovered > 0)
            #expect(cluster.log("coordinator").contains("task ledger opened"))
            await again.close()
            await client.close()
        }

        @Test func submitWithoutWaitPrintsIdsWhoseOutcomesSurviveARestartAndUnknownIdsAreNamed() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let submitted = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "kept", "--count", "3", "--json"])
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any]
            let ids = json?["task_ids"] as? [String] ?? []
            #expect(ids.count == 3 && json?["accepted"] as? Int == 3)

            // No worker yet: the tasks are pending. Restart the coordinator (SIGTERM), then add a worker.
            let pending = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ids)
            #expect(pending.status == 0 && pending.stdout.contains("3 pending"), "\(pending.stdout)\(pending.stderr)")
            cluster.signal("coordinator", SIGTERM)
            #expect(try await cluster.waitForExit("coordinator", within: .seconds(5)) == 0)
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")

            let waited = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ids + ["--wait", "--json"])
            #expect(waited.status == 0, "\(waited.stdout)\(waited.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(waited.stdout.utf8)) as? [String: Any]
            let results = report?["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["task_id"] as? String } == ids && results.allSatisfy { $0["output"] as? String == "kept" })

            let unknown = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + [ids[0], "never-submitted"])
            #expect(unknown.status == 1 && unknown.stdout.contains("never-submitted unknown"), "\(unknown.stdout)")
            let otherClient = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["--name", "admin", ids[0]])
            #expect(otherClient.status == 1, "another certificate name cannot read this client's tasks: \(otherClient.stdout)")
        }

        @Test func submitWaitCollectsEveryOutcomeOnceAcrossACoordinatorKill() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let watcher = try await cluster.startWithWorkers(["w1"], capacity: 4, client: "admin")
            try cluster.startCommand(
                "submit", ["submit"] + cluster.clientArguments + ["--kind", "sleep", "--payload", "30", "--count", "120", "--wait"])
            try await eventually("some tasks finish") { try await watcher.status().tasksSucceeded >= 20 }
            await watcher.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            let status = try await cluster.waitForExit("submit", within: .seconds(60))
            #expect(status == 0, "submit: \(cluster.output("submit")) \(cluster.log("submit"))")
            #expect(cluster.output("submit").contains("120 task(s): 120 succeeded, 0 failed"), "\(cluster.output("submit"))")
            #expect(cluster.log("submit").contains("reconnected"))
        }
    
        @Test func submitWaitSurvivesACoordinatorKillWhileItIsStillSendingAndPrintsEveryOutcomeOnce() async throws {
            // A slow admission rate keeps the submit sending for seconds, so the kill lands in the middle of it.
            let cluster = try ClusterProcesses(settings: ["admission.tasks_per_second=4000", "admission.burst=1000"])
            defer { cluster.stopAll() }
            let watcher = try await cluster.startWithWorkers(["w1"], capacity: 64, client: "admin")
            try cluster.startCommand(
                "submit", ["submit"] + cluster.clientArguments + ["--kind", "echo", "--payload", "x", "--count", "12000", "--wait", "--json"])
            try await eventually("part of the batch is accepted", within: .seconds(20)) { try await watcher.status().tasksAccepted >= 2_000 }
            let acceptedBeforeKill = try await watcher.status().tasksAccepted
            await watcher.close()
            cluster.kill("coordinator")
            #expect(acceptedBeforeKill < 12_000, "the kill must land while tasks are still being sent")
            try await cluster.startCoordinator()
            let status = try await cluster.waitForExit("submit", within: .seconds(60))
            #expect(status == 0, "submit: \(cluster.log("submit"))")
            let output = cluster.output("submit")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output.prefix(300))")
            #expect(report["succeeded"] as? Int == 12_000 && report["failed"] as? Int == 0)
            let ids = (report["results"] as? [[String: Any]] ?? []).compactMap { $0["task_id"] as? String }
            #expect(Set(ids).count == 12_000)
            #expect(cluster.log("submit").contains("reconnecting to submit the rest"), "\(cluster.log("submit"))")
        }

        /// Ctrl-C (or SIGTERM) during `submit --wait` names the submission's ids on its way out, so
        /// the tasks already accepted (they run on) can be collected; before, it printed nothing.
        @Test(arguments: [SIGINT, SIGTERM])
        func anInterruptedSubmitWaitNamesItsTaskIdsAndTheyCanBeCollected(signal: Int32) async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let watcher = try await cluster.startWithWorkers(["w1"], capacity: 4, client: "admin")
            try cluster.startCommand("submit", ["submit"] + cluster.clientArguments + ["--kind", "sleep", "--payload", "300", "--count", "8", "--wait"])
            try await eventually("the tasks are accepted") { try await watcher.status().tasksAccepted == 8 }
            await watcher.close()
            cluster.signal("submit", signal)
            let status = try await cluster.waitForExit("submit", within: .seconds(10))
            #expect(status == 128 + signal, "\(cluster.log("submit"))")
            let notice = cluster.log("submit")
            let first = try #require(notice.firstMatch(of: /task ids are (\S+-0) … (\S+-7);/), "\(notice)")
            #expect(notice.contains("phalanx result ID"))
            let collected = try ClusterProcesses.runToCompletion(["result", String(first.1), String(first.2)] + cluster.clientArguments + ["--wait"])
            #expect(collected.status == 0 && collected.stdout.contains("2 task(s): 2 succeeded"), "\(collected)")
        }

        @Test func askingForAPendingTaskByIdDoesNotTakeItsOutcomeFromTheSubmitter() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let submitter = try await cluster.startWithWorkers(["w1"])
            try await submitter.submit([TaskRequest(taskID: "shared", kind: "sleep", text: "500")])
            let look = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["shared"])
            #expect(look.status == 0 && look.stdout.contains("shared pending"), "\(look.stdout)")
            let watcher = try await cluster.client()
            _ = try await watcher.attach(["shared"])
            #expect(await submitter.outcome(of: "shared").outputText == "500", "the submitter still gets its outcome")
            #expect(await watcher.outcome(of: "shared").outputText == "500", "and so does the connection that asked for it")
            await watcher.close()
            await submitter.close()
        }

        @Test func idsFromAFileAcrossSeveralRequestsAreAllAnswered() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let submitted = try ClusterProcesses.runToCompletion(
                ["submit"] + cluster.clientArguments + ["--kind", "nobody-serves-this", "--count", "2", "--json"])
            let ids = (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["task_ids"] as? [String] ?? []
            #expect(ids.count == 2)
            // More ids than one request may carry (10,000): the client splits them.
            let file = cluster.directory.appendingPathComponent("ids.txt")
            try (ids + (0..<9_999).map { "never-\($0)" }).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            let looked = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["--ids-from", file.path])
            #expect(looked.status == 1 && looked.stdout.contains("10001 task(s): 0 succeeded, 0 failed, 2 pending, 9999 unknown"), "\(looked.stdout.suffix(300))")
            let missing = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["--ids-from", "/nonexistent/ids"])
            #expect(missing.status == 2 && missing.stderr.contains("cannot read task ids from /nonexistent/ids: there is no such file"), "\(missing.stderr)")
            // A FIFO (as from `<(…)` or /dev/stdin) is read like a file.
            let fifo = cluster.directory.appendingPathComponent("ids.fifo").path
            #expect(mkfifo(fifo, 0o600) == 0)
            let writer = Thread { try? ids.joined(separator: "\n").write(toFile: fifo, atomically: false, encoding: .utf8) }
            writer.start()
            let piped = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["--ids-from", fifo])
            #expect(piped.stdout.contains("2 task(s): 0 succeeded, 0 failed, 2 pending"), "\(piped)")
        }

        @Test func aSecondCoordinatorOnTheSameDataDirectoryIsRefused() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            let second = try ClusterProcesses.runToCompletion(["coordinator"] + cluster.commonArguments + ["--set", "coordinator.port=0"])
            #expect(second.status == 2 && second.stderr.contains("another coordinator") && second.stderr.contains("coordinator.data_dir"), "\(second.stderr)")
        }

        @Test func aCancelOfARunningTaskSurvivesAKilledCoordinator() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            try await client.submit([TaskRequest(taskID: "stop-me", kind: "sleep", text: "60000")])
            try await eventually("it runs") { try await client.status().tasksRunning == 1 }
            cluster.signal("w1", SIGSTOP)  // the worker cannot report the cancellation
            let cancelled = try ClusterProcesses.runToCompletion(["cancel"] + cluster.clientArguments + ["stop-me"])
            #expect(cancelled.status == 0 && cancelled.stdout.contains("stop-me cancelled"))
            cluster.kill("coordinator")
            cluster.kill("w1")
            let again = try await cluster.startWithWorkers(["w2"])
            _ = try await again.attach(["stop-me"])
            guard case .failure(let error) = await again.outcome(of: "stop-me").result else {
                Issue.record("expected CANCELLED")
                return
            }
            #expect(error.code == .cancelled && error.message.contains("restarted"), "\(error)")
            #expect(try await again.status().tasksRunning == 0, "it is not run again")
            await again.close()
            await client.close()
        }

        @Test func anAttemptRunningWhenTheCoordinatorIsKilledIsInTheHistoryOfItsRerun() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            try await client.submit([TaskRequest(taskID: "interrupted", kind: "sleep", text: "1500")])
            try await eventually("it runs") { try await client.status().tasksRunning == 1 }
            try await client.submit([TaskRequest(taskID: "marker", kind: "echo", text: "x")])  // acknowledged: the dispatch before it is durable
            cluster.kill("coordinator")
            await client.close()

            try await cluster.startCoordinator()  // w1 reconnects by itself
            let again = try await cluster.client()
            _ = try await again.attach(["interrupted"])
            let outcome = await again.outcome(of: "interrupted")
            #expect(outcome.outputText == "1500" && outcome.attempt == 2, "\(outcome.result)")
            #expect(outcome.history.map(\.attempt) == [1] && outcome.history.first?.lost == true && outcome.history.first?.worker == "", "\(outcome.history)")
            #expect(outcome.history.first?.error.message.contains("coordinator restarted") == true, "\(outcome.history)")
            await again.close()
        }

        @Test func failedAndLostAttemptsBeforeACoordinatorKillAreStillInTheHistoryAfterIt() async throws {
            // Retries wait up to an hour (full jitter): the retry of 'failing' waits through the restart.
            let cluster = try ClusterProcesses(settings: ["retry.initial_backoff_ms=3600000", "retry.max_backoff_ms=3600000"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            try await client.submit([
                TaskRequest(taskID: "failing", kind: "fail", text: "system"), TaskRequest(taskID: "sleepy", kind: "sleep", text: "4000"),
            ])
            try await eventually("'failing' failed once and waits for its retry while 'sleepy' runs") {
                let status = try await client.status()
                return status.tasksRetrying == 1 && status.tasksRunning == 1
            }
            cluster.kill("w1")  // 'sleepy' loses its worker and waits for another
            try await eventually("'sleepy' is queued again") { try await client.status().tasksQueued == 1 }
            try await client.submit([TaskRequest(taskID: "marker", kind: "echo", text: "x")])  // acknowledged: what came before is durable
            cluster.kill("coordinator")

            try await cluster.startCoordinator(["--set", "retry.initial_backoff_ms=10", "--set", "retry.max_backoff_ms=10"])
            try cluster.startWorker("w2")
            let again = try await cluster.client()
            _ = try await again.attach(["failing", "sleepy"])
            let failing = await again.outcome(of: "failing")
            guard case .failure(let error) = failing.result else {
                Issue.record("'fail system' succeeded: \(failing.result)")
                return
            }
            #expect(error.code == .unavailable && failing.attempt == 3, "\(error)")
            #expect(failing.history.map(\.attempt) == [1, 2] && failing.history.map(\.worker) == ["w1", "w2"], "\(failing.history)")
            #expect(failing.history.allSatisfy { !$0.lost && $0.error.message.contains("asked to fail") }, "\(failing.history)")

            let sleepy = await again.outcome(of: "sleepy")
            #expect(sleepy.outputText == "4000" && sleepy.attempt == 2 && sleepy.worker == "w2")
            #expect(sleepy.history.map(\.attempt) == [1] && sleepy.history.first?.worker == "w1" && sleepy.history.first?.lost == true, "\(sleepy.history)")
            #expect(sleepy.history.first?.error.code == .workerLost)
            let shown = try ClusterProcesses.runToCompletion(["result", "--json"] + cluster.clientArguments + ["sleepy"])
            let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            let history = ((report?["results"] as? [[String: Any]])?.first?["history"] as? [[String: Any]]) ?? []
            #expect(history.count == 1 && history.first?["lost"] as? Bool == true && history.first?["worker"] as? String == "w1", "\(shown.stdout)")
            await again.close()
            await client.close()
        }
    }
}
