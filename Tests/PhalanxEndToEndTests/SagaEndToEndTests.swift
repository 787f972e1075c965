import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Sagas across real worker processes: compensation in reverse order, a worker killed while it
    /// compensates, a coordinator killed in the middle of a saga.
    @Suite(.timeLimit(.minutes(2))) struct SagaEndToEndTests {
        let steps = [
            SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: -10, lowerBound: 0)])],
                     compensation: [ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: 10)])]),
            SagaStep(forward: [ParticipantOperations(participant: "w2", operations: [.add(key: "bob", amount: 10, lowerBound: 0)])],
                     compensation: [ParticipantOperations(participant: "w2", operations: [.add(key: "bob", amount: -10, lowerBound: 0)])]),
        ]
        /// A third step that always fails: alice cannot go below 0.
        let failing = SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.add(key: "alice", amount: -1_000, lowerBound: 0)])])

        /// Opens the accounts and waits until every participant acknowledged (END is logged).
        func open(_ client: PhalanxClient) async throws {
            let outcome = try await client.transact([
                ParticipantOperations(participant: "w1", operations: [.put(key: "alice", value: .integer(100), lowerBound: 0)]),
                ParticipantOperations(participant: "w2", operations: [.put(key: "bob", value: .integer(0), lowerBound: 0)]),
            ])
            #expect(outcome.committed)
            try await eventually("the opening transaction ends") { try await client.transaction(outcome.id)?.endedUnixMilliseconds != nil }
        }

        /// Starts w1 and w2, opens the accounts, then kills the coordinator and starts it again
        /// with `environment`.
        func openAndRestartTheCoordinator(_ cluster: ClusterProcesses, environment: [String: String] = [:]) async throws {
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await open(client)
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator(environment: environment)
        }

        func balances(_ client: PhalanxClient) async throws -> [Int64?] {
            let outcome = try await client.transact([
                ParticipantOperations(participant: "w1", operations: [.get(key: "alice")]),
                ParticipantOperations(participant: "w2", operations: [.get(key: "bob")]),
            ])
            return [outcome.reads["w1"]?["alice"], outcome.reads["w2"]?["bob"]].map { read in
                guard case .integer(let value)?? = read else { return nil }
                return value
            }
        }

        func expectCleanAudit(_ cluster: ClusterProcesses) async throws {
            let admin = try await cluster.client("admin")
            var audit = try await admin.audit(snapshotTimeout: .seconds(3))
            try await eventually("the cluster settles", within: .seconds(15), poll: .milliseconds(200)) {
                audit = try await admin.audit(snapshotTimeout: .seconds(3))
                return audit.summary.report.inDoubt == 0 && audit.summary.report.inProgress == 0 && audit.summary.report.sagasInProgress == 0
            }
            #expect(audit.summary.report.violations == [], "\(audit.summary.report.violations)")
            #expect(audit.unreachable == [])
            await admin.close()
        }

        @Test func aSagaCompletesOrIsCompensatedLastFirstAndTheCLIShowsItsHistory() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await open(client)
            let done = try await client.runSaga(steps, id: "ok")
            #expect(done.completed)
            #expect(try await balances(client) == [90, 10])

            let typo = try ClusterProcesses.runToCompletion(["saga"] + cluster.clientArguments + ["--id", "typo", "w1:alice-=1 | w9:alice+=1", "w1:alice-=1000"])
            #expect(typo.status == 1 && typo.stdout.contains("refused, nothing was run: UNAVAILABLE from coordinator: worker w9, named by the compensation of step 1, is not registered"), "\(typo)")
            #expect(try await balances(client) == [90, 10], "nothing ran")
            let badID = try ClusterProcesses.runToCompletion(["saga"] + cluster.clientArguments + ["--id", "a#b", "w1:alice-=1 | w1:alice+=1"])
            #expect(badID.status == 2 && badID.stderr.contains("a saga id must be 1 to 112 bytes without '#'"), "a usage error: \(badID)")

            let cli = try ClusterProcesses.runToCompletion(
                ["saga"] + cluster.clientArguments + ["--id", "undone", "w1:alice-=10 | w1:alice+=10", "w2:bob+=10 | w2:bob-=10", "w1:alice-=1000"])
            #expect(cli.status == 1, "\(cli)")
            #expect(cli.stdout.contains("failed at step 3 (BUSINESS_REJECTED from w1"), "\(cli.stdout)")
            #expect(cli.stdout.contains("compensated step(s) 2, 1"), "\(cli.stdout)")
            #expect(try await balances(client) == [90, 10], "the compensations undid steps 2 and 1")

            let shown = try ClusterProcesses.runToCompletion(["tx", "show"] + cluster.clientArguments + ["undone"])
            #expect(shown.status == 0, "\(shown)")
            let lines = shown.stdout.split(separator: "\n").map(String.init)
            let compensatedTwo = try #require(lines.firstIndex { $0.contains("step 2 compensated") })
            let compensatedOne = try #require(lines.firstIndex { $0.contains("step 1 compensated") })
            #expect(compensatedTwo < compensatedOne, "last first: \(shown.stdout)")
            let json = try ClusterProcesses.runToCompletion(["tx", "show"] + cluster.clientArguments + ["--json", "undone"])
            let history = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(history["kind"] as? String == "saga" && history["completed"] as? Bool == false, "\(json.stdout)")
            let compensated = (history["records"] as? [[String: Any]] ?? []).filter { $0["event"] as? String == "compensated" }
            #expect(compensated.map { $0["step"] as? Int } == [2, 1], "\(json.stdout)")
            let compensation = try ClusterProcesses.runToCompletion(["tx", "show"] + cluster.clientArguments + ["saga:undone#c1.0"])
            #expect(compensation.stdout.contains("transaction saga:undone#c1.0 of saga undone: the compensation of step 2, attempt 1"), "\(compensation)")
            try await expectCleanAudit(cluster)
            await client.close()
        }

        @Test func aWorkerKilledWhileItCompensatesIsCompensatedOnceAfterItsRestart() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await open(client)
            cluster.kill("w2")
            try cluster.startWorker("w2", environment: ["PHALANX_FAILPOINTS": "participant.after_compensation_prepare_durable"])
            try await cluster.waitForWorkers(2, using: client)

            let saga = Task { try await client.runSaga(steps + [failing], id: "killed") }
            #expect(try await cluster.waitForExit("w2", within: .seconds(15)) == 86, "w2 died with the compensation of step 2 prepared")
            try cluster.startWorker("w2", logName: "w2-restarted")
            let outcome = try await saga.value
            #expect(!outcome.completed)
            #expect(outcome.failedStep == 2)
            #expect(outcome.compensated == [1, 0])
            #expect(try await balances(client) == [100, 0], "each step undone exactly once")
            try await expectCleanAudit(cluster)
            await client.close()
        }

        @Test func aSagaResumesAfterItsCoordinatorIsKilledBetweenADecisionAndSendingIt() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await openAndRestartTheCoordinator(cluster, environment: ["PHALANX_FAILPOINTS": "coordinator.before_decision_sent"])
            let doomed = try await cluster.client()
            try await cluster.waitForWorkers(2, using: doomed)
            let lost = Task { try await doomed.runSaga(steps, id: "resumed") }
            #expect(try await cluster.waitForExit("coordinator", within: .seconds(15)) == 86)
            _ = try? await lost.value  // its connection ended with the coordinator

            try await cluster.startCoordinator()
            let client2 = try await cluster.client()
            try await cluster.waitForWorkers(2, using: client2)
            try await eventually("the saga finishes after the restart", within: .seconds(15), poll: .milliseconds(100)) {
                if case .saga(let history)? = try await client2.history("resumed") { return history.completed == true }
                return false
            }
            #expect(try await balances(client2) == [90, 10], "both steps applied once")
            try await expectCleanAudit(cluster)
            await client2.close()
        }

        /// Right after a coordinator restart its workers are not registered again yet: a new saga
        /// naming them is not refused as "not registered"; it waits for them (a heartbeat window at most).
        @Test func aSagaStartedRightAfterACoordinatorRestartWaitsForItsWorkers() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await openAndRestartTheCoordinator(cluster)
            let saga = try ClusterProcesses.runToCompletion(["saga"] + cluster.clientArguments + ["--id", "after-restart", "w1:alice-=1 | w1:alice+=1", "w2:bob+=1 | w2:bob-=1"])
            #expect(saga.status == 0 && saga.stdout.contains("completed"), "\(saga)")
            let again = try await cluster.client()
            #expect(try await balances(again) == [99, 1])
            await again.close()
        }

        /// Transactions and sagas share one set of ids (`tx show ID` names one thing): each refuses
        /// the other's id, while the coordinator remembers it and, after a restart, from its logs;
        /// the CLI says a refused transaction ran nothing (not that it aborted), and that a repeat
        /// answered from the decision log after the restart has no values read to show.
        @Test func aSagaIdIsRefusedForATransactionAndATransactionIdForASagaAlsoAfterARestart() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await open(client)
            let put = [ParticipantOperations(participant: "w1", operations: [.put(key: "note", value: .integer(1))])]
            #expect(try await client.transact(put, id: "shared-tx").committed)
            #expect(try await client.runSaga(steps, id: "shared-saga").completed)
            func expectRefusals(_ client: PhalanxClient) async throws {
                let saga = try await client.runSaga(steps, id: "shared-tx")
                #expect(!saga.completed && saga.failedStep == nil && saga.reason?.code == .invalidArgument, "\(saga)")
                #expect(saga.reason?.message.contains("used by a transaction") == true, "\(String(describing: saga.reason))")
                let transaction = try await client.transact(put, id: "shared-saga")
                #expect(transaction.refused && !transaction.committed && transaction.reason?.code == .invalidArgument, "\(transaction)")
                #expect(transaction.reason?.message.contains("used by a saga") == true, "\(String(describing: transaction.reason))")
            }
            try await expectRefusals(client)
            // A fresh id of either kind still runs; a repeat of each gets its own outcome.
            #expect(try await client.transact(put, id: "shared-tx").committed)
            #expect(try await client.runSaga(steps, id: "shared-saga").completed)
            let read = try await client.transact([ParticipantOperations(participant: "w1", operations: [.get(key: "note")])], id: "read-before")
            #expect(read.committed && read.reads["w1"]?["note"] != nil)
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            let again = try await cluster.client()
            try await eventually("the workers register again", within: .seconds(10)) { (try? await again.status().workers.count) == 2 }
            try await expectRefusals(again)
            let cli = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["--id", "shared-saga", "w1:note=2"])
            #expect(cli.status == 1 && cli.stdout.contains("transaction shared-saga refused, nothing was run: INVALID_ARGUMENT"), "\(cli)")
            #expect(!cli.stdout.contains("aborted"), "\(cli)")
            let repeated = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["--id", "read-before", "w1:note"])
            #expect(repeated.status == 0 && repeated.stdout.contains("the values it read are not shown: this repeat of its id was answered from the decision log"), "\(repeated)")
            let repeatedJSON = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["--json", "--id", "read-before", "w1:note"])
            #expect(repeatedJSON.stdout.contains("\"reads_omitted\":true"), "\(repeatedJSON)")
            // A decomposed key longer as given than the 256 bytes it takes in form C, as the coordinator reads it.
            let decomposed = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["w1:\(String(repeating: "e\u{0301}", count: 128))=1"])
            #expect(decomposed.status == 0 && decomposed.stdout.contains("committed"), "\(decomposed)")
            let sagaCLI = try ClusterProcesses.runToCompletion(["saga"] + cluster.clientArguments + ["--json", "--id", "shared-tx", "w1:alice-=1 | w1:alice+=1"])
            #expect(sagaCLI.status == 1 && sagaCLI.stdout.contains("\"refused\":true"), "\(sagaCLI)")
            let sagaText = try ClusterProcesses.runToCompletion(["saga"] + cluster.clientArguments + ["--id", "shared-tx", "w1:alice-=1 | w1:alice+=1"])
            #expect(sagaText.stdout.contains("saga shared-tx refused, nothing was run: INVALID_ARGUMENT from "), "\(sagaText)")
            let show = try ClusterProcesses.runToCompletion(["tx", "show"] + cluster.clientArguments + ["shared-saga"])
            #expect(show.status == 0 && show.stdout.contains("saga"), "\(show)")
            #expect(try await again.transaction("shared-tx")?.committed == true)
            await again.close()
            try await expectCleanAudit(cluster)
        }

        @Test func aCompensationRefusedByABoundIsReportedAtOnceAndCommitsOnceTheBalanceIsRestored() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await open(client)
            // Step 1 credits bob 10; step 2 fails; bob's 10 are spent meanwhile by nobody: the
            // compensation takes 1,000 from bob, which his bound refuses.
            let saga = try ClusterProcesses.runToCompletion(
                ["saga"] + cluster.clientArguments + ["--id", "stuck", "--not-below", "0", "w2:bob+=10 | w2:bob-=1000", "w1:alice-=5000 |"],
                timeout: .seconds(30))
            #expect(saga.status == 3, "\(saga)")
            #expect(saga.stdout.contains("failed at step 2") && saga.stdout.contains("COMPENSATION BLOCKED: the compensation of step 1 is refused (BUSINESS_REJECTED from w2"),
                    "\(saga.stdout)")
            #expect(try await balances(client) == [100, 10], "step 1 stays applied while its compensation is refused")
            let repeated = try ClusterProcesses.runToCompletion(
                ["saga"] + cluster.clientArguments + ["--json", "--id", "stuck", "--not-below", "0", "w2:bob+=10 | w2:bob-=1000", "w1:alice-=5000 |"],
                timeout: .seconds(30))
            #expect(repeated.status == 3 && repeated.stdout.contains("\"blocked_step\":1"), "a repeat is answered at once, --json exits 3 too: \(repeated)")
            // Put right what refuses it: the retries commit it, and the saga finishes compensated.
            let topUp = try await client.transact([ParticipantOperations(participant: "w2", operations: [.add(key: "bob", amount: 990)])])
            #expect(topUp.committed)
            try await eventually("the compensation commits on a retry", within: .seconds(20), poll: .milliseconds(200)) {
                guard case .saga(let history)? = try await client.history("stuck") else { return false }
                return history.completed == false
            }
            #expect(try await balances(client) == [100, 0])
            await client.close()
        }
    }
}
