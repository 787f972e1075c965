import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Two-phase commit across real worker processes, crashes at the failpoints, and the audit.
    @Suite(.timeLimit(.minutes(2))) struct TransactionEndToEndTests {
        static let accounts = 20
        static let balance: Int64 = 100

        /// Seeds the bank through the CLI and checks it said so.
        func seed(_ cluster: ClusterProcesses) throws {
            let seeded = try ClusterProcesses.runToCompletion(
                ["bank", "seed"] + cluster.clientArguments + ["--accounts", "\(Self.accounts)", "--balance", "\(Self.balance)"])
            #expect(seeded.status == 0, "\(seeded)")
            #expect(seeded.stdout.contains("seeded \(Self.accounts) accounts"))
        }

        /// Audits until nothing is in progress or in doubt any more (recovery settles), then returns the last report.
        func settledAudit(_ cluster: ClusterProcesses) async throws -> AuditOutcome {
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            var last = try await admin.audit(snapshotTimeout: .seconds(3))
            try await eventually("the cluster settles: nothing in progress, nothing in doubt", within: .seconds(15), poll: .milliseconds(200)) {
                last = try await admin.audit(snapshotTimeout: .seconds(3))
                return last.summary.report.inDoubt == 0 && last.summary.report.inProgress == 0
            }
            return last
        }

        func expectClean(_ audit: AuditOutcome, bank: Bool = true) {
            #expect(audit.summary.report.violations == [], "\(audit.summary.report.violations)")
            #expect(audit.unreachable == [])
            if bank {
                #expect(audit.summary.report.bankTotal == Int64(Self.accounts) * Self.balance, "money is conserved")
                #expect(audit.summary.report.bankSeeded == Int64(Self.accounts) * Self.balance)
            }
        }

        func balances(_ client: PhalanxClient, _ keys: [(node: String, key: String)]) async throws -> [Int64?] {
            let (outcome, values) = try await read(client, keys)
            #expect(outcome.committed, "\(String(describing: outcome.reason))")
            return values
        }

        /// The keys' values read in one transaction (nil values unless it committed).
        func read(_ client: PhalanxClient, _ keys: [(node: String, key: String)]) async throws -> (TransactionOutcome, [Int64?]) {
            var byNode: [String: [StoreOperation]] = [:]
            for entry in keys { byNode[entry.node, default: []].append(.get(key: entry.key)) }
            let outcome = try await client.transact(byNode.keys.sorted().map { ParticipantOperations(participant: $0, operations: byNode[$0]!) })
            return (outcome, keys.map { entry in
                guard case .integer(let value)?? = outcome.reads[entry.node]?[entry.key] else { return nil }
                return value
            })
        }

        /// A re-seed replaces the accounts, also with fewer of them or on fewer workers: the accounts
        /// the new seed does not overwrite are deleted with it, and the audit's total matches.
        @Test func aReseedWithFewerAccountsOrWorkersReplacesTheOldAccountsAndTheAuditIsClean() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2", "w3"])
            func seed(_ accounts: Int) throws {
                let seeded = try ClusterProcesses.runToCompletion(["bank", "seed"] + cluster.clientArguments + ["--accounts", "\(accounts)", "--balance", "100"])
                #expect(seeded.status == 0 && seeded.stdout.contains("seeded \(accounts) accounts"), "\(seeded)")
            }
            try seed(10)
            try seed(4)
            var audit = try await settledAudit(cluster)
            #expect(audit.summary.report.violations == [], "\(audit.summary.report.violations)")
            #expect(audit.summary.report.bankTotal == 400 && audit.summary.report.bankSeeded == 400)
            cluster.kill("w3")
            try await eventually("w3 is gone", within: .seconds(15)) { try await client.status().workers.count == 2 }
            let refused = try ClusterProcesses.runToCompletion(["bank", "seed"] + cluster.clientArguments + ["--accounts", "4", "--balance", "100"])
            #expect(refused.status == 1 && refused.stderr.contains("the previous seed put accounts on w3, which is not registered"), "\(refused)")
            try cluster.startWorker("w3", logName: "w3-again")
            try await eventually("w3 is back", within: .seconds(15)) { try await client.status().workers.count == 3 }
            try seed(6)
            audit = try await settledAudit(cluster)
            #expect(audit.summary.report.violations == [], "\(audit.summary.report.violations)")
            #expect(audit.summary.report.bankTotal == 600 && audit.summary.report.bankSeeded == 600)
            await client.close()
        }

        @Test func transfersCommitOnBothWorkersOrNeitherAndTheAuditIsClean() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            // Account 0 lives on w1, account 1 on w2.
            let moved = try ClusterProcesses.runToCompletion(
                ["tx", "transfer"] + cluster.clientArguments + ["--from", "w1:bank:acct:0", "--to", "w2:bank:acct:1", "--amount", "30"])
            #expect(moved.status == 0 && moved.stdout.contains("committed"), "\(moved)")
            #expect(try await balances(client, [("w1", "bank:acct:0"), ("w2", "bank:acct:1")]) == [70, 130])

            let overdrawn = try ClusterProcesses.runToCompletion(
                ["tx", "transfer"] + cluster.clientArguments + ["--from", "w1:bank:acct:0", "--to", "w2:bank:acct:1", "--amount", "71"])
            #expect(overdrawn.status == 1, "\(overdrawn)")
            #expect(overdrawn.stdout.contains("BUSINESS_REJECTED from w1"), "the reason and the participant that voted NO: \(overdrawn.stdout)")
            #expect(try await balances(client, [("w1", "bank:acct:0"), ("w2", "bank:acct:1")]) == [70, 130], "neither side changed")

            let gone = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["w1:bank:acct:0-=1", "w9:x+=1"])
            #expect(gone.status == 1 && gone.stdout.contains("w9 is not connected"), "\(gone)")

            let run = try ClusterProcesses.runToCompletion(
                ["bank", "run"] + cluster.clientArguments + ["--transfers", "300", "--concurrency", "8"], timeout: .seconds(60))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("300 transfers"), "\(run.stdout)")

            let audit = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin"])
            #expect(audit.status == 0, "\(audit)")
            #expect(audit.stdout.contains("clean: no violations"))
            expectClean(try await settledAudit(cluster))

            let shown = try ClusterProcesses.runToCompletion(["tx", "show"] + cluster.clientArguments + ["no-such-tx"])
            #expect(shown.status == 1 && shown.stderr.contains("have no transaction or saga"), "\(shown)")
            await client.close()
        }

        @Test func operationsTooLargeForAWorkersFramesAreRefusedWhileOnesThatFitCommit() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", ["--set", "limits.max_frame_bytes=32768"])
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            func put(_ bytes: Int) async throws -> TransactionOutcome {
                try await client.transact([ParticipantOperations(participant: "w1", operations: [.put(key: "k", value: .bytes(Array(repeating: 7, count: bytes)))])])
            }
            let fits = try await put(30_000)
            #expect(fits.committed, "\(String(describing: fits.reason))")
            let tooLarge = try await put(33_000)
            #expect(!tooLarge.committed)
            #expect(tooLarge.reason?.code == .invalidArgument)
            #expect(tooLarge.reason?.message.contains("is more than the 32768-byte frames w1 accepts") == true, "\(String(describing: tooLarge.reason))")
            // A saga's step is held to the same limit, before any step runs.
            let saga = try await client.runSaga([SagaStep(forward: [ParticipantOperations(participant: "w1", operations: [.put(key: "s", value: .bytes(Array(repeating: 7, count: 33_000)))])])])
            #expect(!saga.completed && saga.reason?.code == .invalidArgument, "\(String(describing: saga.reason))")
            #expect(saga.reason?.message.contains("is more than the 32768-byte frames w1 accepts") == true, "\(String(describing: saga.reason))")
            let status = try await client.status()
            #expect(status.workers.map(\.name) == ["w1"], "the worker was not cut off by an oversized frame")
            #expect(!cluster.log("w1").contains("FRAME_TOO_LARGE"))
            await client.close()
        }

        /// Values read must fit the participant's vote and, all together, the client's reply: a
        /// transaction reading more aborts with INVALID_ARGUMENT, and nobody is cut off by a frame.
        @Test func readsTooLargeForAVoteOrForTheReplyAbortAndNoConnectionIsCutOff() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=65536"])
            defer { cluster.stopAll() }
            let first = try await cluster.startWithWorkers(["w1", "w2"])
            await first.close()
            // The client's frames are as small as the cluster's.
            let client = try await cluster.client(limits: FrameLimitEndToEndTests.clientLimits(frameBytes: 65_536))
            let value = StoreValue.bytes(Array(repeating: 0x61, count: 40_000))
            for (node, key) in [("w1", "a"), ("w1", "b"), ("w2", "c")] {
                let put = try await client.transact([ParticipantOperations(participant: node, operations: [.put(key: key, value: value)])])
                #expect(put.committed, "\(String(describing: put.reason))")
            }
            func get(_ keys: [(String, String)]) async throws -> TransactionOutcome {
                let byNode = Dictionary(grouping: keys, by: \.0)
                return try await client.transact(byNode.keys.sorted().map { node in
                    ParticipantOperations(participant: node, operations: byNode[node]!.map { .get(key: $0.1) })
                })
            }
            let one = try await get([("w1", "a")])
            #expect(one.committed && one.reads["w1"]?["a"] == .some(value), "one 40,000-byte value fits")
            let twoOnOne = try await get([("w1", "a"), ("w1", "b")])
            #expect(!twoOnOne.committed && twoOnOne.reason?.code == .invalidArgument && twoOnOne.reason?.originNode == "w1", "\(String(describing: twoOnOne.reason))")
            #expect(twoOnOne.reason?.message.contains("reads on w1") == true, "\(String(describing: twoOnOne.reason))")
            let oneEach = try await get([("w1", "a"), ("w2", "c")])
            #expect(!oneEach.committed && oneEach.reason?.code == .invalidArgument, "\(String(describing: oneEach.reason))")
            #expect(oneEach.reason?.message.contains("all participants together") == true, "\(String(describing: oneEach.reason))")
            let again = try await client.transact([ParticipantOperations(participant: "w1", operations: [.put(key: "a", value: .integer(1))])])
            #expect(again.committed, "the aborted reads left no lock behind: \(String(describing: again.reason))")
            #expect(try await client.status().workers.count == 2, "no worker was cut off")
            #expect(!cluster.log("coordinator").contains("FRAME_TOO_LARGE") && !cluster.log("w1").contains("FRAME_TOO_LARGE"), "no frame over the limit")
            await client.close()
        }

        @Test func aWriteSetOrOneWriteLargerThanAFrameReachesTheAuditInPartsAndTheWorkersStayConnected() async throws {
            let cluster = try ClusterProcesses(settings: ["limits.max_frame_bytes=65536"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            // 2,000 puts fit one 64 KiB request, but their write set (before and after images, as JSON) is several frames.
            let operations = (0..<2_000).map { StoreOperation.put(key: "k\($0)", value: .integer(Int64($0))) }
            let big = try await client.transact([ParticipantOperations(participant: "w1", operations: operations)])
            #expect(big.committed, "\(String(describing: big.reason))")
            // One write whose value, as JSON, is about three frames on its own: it spans parts.
            let blob = try await client.transact([ParticipantOperations(participant: "w2", operations: [.put(key: "blob", value: .bytes(Array(repeating: 200, count: 60_000)))])])
            #expect(blob.committed, "\(String(describing: blob.reason))")
            let admin = try await cluster.client("admin")
            let audit = try await admin.audit(snapshotTimeout: .seconds(5))
            #expect(audit.summary.report.violations == [], "\(audit.summary.report.violations)")
            #expect(audit.unreachable == [])
            #expect(audit.summary.report.keys >= 2_000)
            #expect(!cluster.log("coordinator").contains("FRAME_TOO_LARGE"), "no frame over the limit")
            #expect(try await client.status().workers.count == 2, "no worker was cut off")
            await admin.close()
            await client.close()
        }

        @Test func aCoordinatorKilledBetweenTheDecisionAndSendingItCommitsEverywhereAfterItsRestart() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            _ = try await settledAudit(cluster)  // the seed's END is logged: the restart below has nothing to resend
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator(environment: ["PHALANX_FAILPOINTS": "coordinator.before_decision_sent"])
            let waiting = try await cluster.client()
            try await cluster.waitForWorkers(2, using: waiting)
            await waiting.close()

            try cluster.startCommand("bank", ["bank", "run"] + cluster.clientArguments + ["--transfers", "200", "--concurrency", "4"])
            let status = try await cluster.waitForExit("coordinator", within: .seconds(20))
            #expect(status == 86, "the coordinator stopped at the failpoint: \(cluster.log("coordinator").suffix(600))")
            let line = try #require(cluster.log("coordinator").split(separator: "\n").first { $0.contains("failpoint coordinator.before_decision_sent hit") })
            let transaction = try #require(line.split(separator: "(").last?.split(separator: ")").first).description
            _ = try await cluster.waitForExit("bank", within: .seconds(20))

            try await cluster.startCoordinator()
            let client2 = try await cluster.client()
            try await cluster.waitForWorkers(2, using: client2)
            let audit = try await settledAudit(cluster)
            expectClean(audit)
            let entry = try #require(try await client2.transaction(transaction))
            #expect(entry.committed == true, "the logged COMMIT survived the crash")
            #expect(entry.endedUnixMilliseconds != nil, "and reached every participant after the restart")
            await client2.close()
        }

        @Test func aWorkerKilledAfterItsPrepareIsDurableAsksAfterItsRestartAndReleasesItsLocks() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            cluster.kill("w2")
            try cluster.startWorker("w2", environment: ["PHALANX_FAILPOINTS": "participant.after_prepare_durable"])
            try await cluster.waitForWorkers(2, using: client)

            let transfer = [
                ParticipantOperations(participant: "w1", operations: [.add(key: "bank:acct:0", amount: -10, lowerBound: 0)]),
                ParticipantOperations(participant: "w2", operations: [.add(key: "bank:acct:1", amount: 10, lowerBound: 0)]),
            ]
            let lost = try await client.transact(transfer)
            #expect(!lost.committed, "w2 died before it voted")
            #expect(try await cluster.waitForExit("w2", within: .seconds(10)) == 86)

            try cluster.startWorker("w2", logName: "w2-restarted")
            try await cluster.waitForWorkers(2, using: client)
            expectClean(try await settledAudit(cluster))
            #expect(cluster.log("w2-restarted").contains("asking the coordinator how they ended"), "it came back in doubt")
            let retried = try await client.transact(transfer)
            #expect(retried.committed, "the lock was released: \(String(describing: retried.reason))")
            #expect(try await balances(client, [("w1", "bank:acct:0"), ("w2", "bank:acct:1")]) == [90, 110])
            await client.close()
        }

        @Test func aWorkerKilledAfterApplyingTheCommitBeforeAcknowledgingItAppliesItOnce() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            cluster.kill("w2")
            try cluster.startWorker("w2", environment: ["PHALANX_FAILPOINTS": "participant.after_outcome_durable"])
            try await cluster.waitForWorkers(2, using: client)
            let outcome = try await client.transact([
                ParticipantOperations(participant: "w1", operations: [.add(key: "bank:acct:0", amount: -25, lowerBound: 0)]),
                ParticipantOperations(participant: "w2", operations: [.add(key: "bank:acct:1", amount: 25, lowerBound: 0)]),
            ])
            #expect(outcome.committed)
            #expect(try await cluster.waitForExit("w2", within: .seconds(10)) == 86)
            try cluster.startWorker("w2", logName: "w2-restarted")
            try await cluster.waitForWorkers(2, using: client)
            expectClean(try await settledAudit(cluster))
            #expect(try await balances(client, [("w1", "bank:acct:0"), ("w2", "bank:acct:1")]) == [75, 125], "the decision resent after the restart applied nothing twice")
            await client.close()
        }

        @Test func theAuditNamesAValueChangedBehindTheClustersBackAndAFrozenWorkerItCouldNotReach() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            let store = try ParticipantStore(path: "\(cluster.directory.path)/workers/w2/participant.sqlite")
            try store.executeForTesting("UPDATE value SET value_json = '{\"value\":{\"integer\":{\"_0\":150}},\"lowerBound\":0}' WHERE key = 'bank:acct:1'")
            let damaged = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin"])
            #expect(damaged.status == 1, "\(damaged)")
            #expect(damaged.stdout.contains("value_differs_from_history [transaction "), "\(damaged.stdout)")
            #expect(damaged.stdout.contains("node w2, key bank:acct:1]"), "\(damaged.stdout)")
            #expect(damaged.stdout.contains("bank_total_changed"), "\(damaged.stdout)")

            cluster.signal("w1", SIGSTOP)
            let frozen = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin", "--timeout-ms", "1000"])
            cluster.signal("w1", SIGCONT)
            #expect(frozen.status == 1, "violations found outweigh the unreachable node: \(frozen)")
            #expect(frozen.stdout.contains("UNREACHABLE: w1"), "\(frozen.stdout)")
            try store.executeForTesting("UPDATE value SET value_json = '{\"value\":{\"integer\":{\"_0\":100}},\"lowerBound\":0}' WHERE key = 'bank:acct:1'")
            cluster.signal("w1", SIGSTOP)
            let unreachable = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin", "--timeout-ms", "1000", "--json"])
            cluster.signal("w1", SIGCONT)
            #expect(unreachable.status == 2, "could not audit w1: \(unreachable)")
            #expect(unreachable.stdout.contains("\"unreachable\":[\"w1\"]"), "\(unreachable.stdout)")
            let denied = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "client"])
            #expect(denied.status == 2 && denied.stderr.contains("PERMISSION_DENIED"), "a client certificate may not audit: \(denied)")
            cluster.kill("w1")
            try await eventually("w1 is gone") { try await client.status().workers.count == 1 }
            let stopped = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin", "--timeout-ms", "1000"])
            #expect(stopped.status == 2 && stopped.stdout.contains("UNREACHABLE: w1 (it could not be audited: it was not registered with the coordinator when the audit began"), "\(stopped)")
            await client.close()
        }

        @Test func aBankRunWhoseCoordinatorIsKilledCountsTransfersInFlightAsUnknownNotFailedAndStops() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            let admin = try await cluster.client("admin")
            let before = try await admin.audit().summary.report.committed
            try cluster.startCommand("bank", ["bank", "run"] + cluster.clientArguments + ["--transfers", "1000000", "--concurrency", "16"])
            try await eventually("transfers commit") { try await admin.audit().summary.report.committed >= before + 200 }
            await admin.close()
            cluster.kill("coordinator")
            let status = try await cluster.waitForExit("bank", within: .seconds(20))
            let output = cluster.output("bank")
            let log = cluster.log("bank")
            #expect(status == 1, "\(output) \(log)")
            #expect(output.contains("failed 0, unknown "), "a transfer in flight is not reported failed: \(output)")
            #expect(log.contains("the connection to the coordinator ended after") && log.contains("outcomes are unknown"), "\(log)")
            #expect(!output.contains("1000000 transfers in"), "the run stopped instead of failing every transfer left: \(output)")
            #expect(output.contains("unknown: ") && output.contains("phalanx tx show"), "\(output)")
            // Every transfer in flight is named, so that each can be looked up.
            let unknownCount = output.firstMatch(of: /unknown (\d+);/).flatMap { Int($0.1) } ?? -1
            let named = output.firstMatch(of: /unknown transactions \(phalanx tx show ID\): ([^\n]*)/).map { $0.1.split(separator: " ") } ?? []
            #expect(unknownCount > 0 && named.count == unknownCount, "\(output)")

            await client.close()
            try await cluster.startCoordinator()
            expectClean(try await settledAudit(cluster))
        }

        @Test func anOnlineAuditUnderLoadFindsNothingWrongAndTheOfflineAuditAgrees() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try seed(cluster)
            try cluster.startCommand("bank", ["bank", "run"] + cluster.clientArguments + ["--transfers", "600", "--concurrency", "4"])
            let admin = try await cluster.client("admin")
            var audits = 0
            while try await cluster.waitForExit("bank", within: .milliseconds(1)) == nil, audits < 20 {
                let audit = try await admin.audit()
                #expect(audit.summary.report.violations == [], "audit \(audits) under load: \(audit.summary.report.violations)")
                #expect(audit.summary.report.bankTotal == Int64(Self.accounts) * Self.balance)
                audits += 1
            }
            #expect(audits >= 2, "the audits ran while transfers did")
            _ = try await cluster.waitForExit("bank", within: .seconds(60))
            #expect(cluster.output("bank").contains("failed 0"), "\(cluster.output("bank"))")
            await admin.close()
            expectClean(try await settledAudit(cluster))
            await client.close()
            cluster.stopAll()
            let offline = try ClusterProcesses.runToCompletion(["audit", "--offline"] + cluster.clientArguments)
            #expect(offline.status == 0, "\(offline)")
            #expect(offline.stdout.contains("bank: accounts sum to \(Int64(Self.accounts) * Self.balance)"), "\(offline.stdout)")
        }

        @Test func aDepositWhoseWorkerDiesAfterTheEffectCommittedIsAppliedOnceAcrossTheRerun() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", environment: ["PHALANX_FAILPOINTS": "task.after_effect_committed"])
            let client = try await cluster.client()
            try await cluster.waitForWorkers(1, using: client)
            try await client.submit([TaskRequest(taskID: "d1", kind: "deposit", text: "w1:acct:5")])
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 86, "w1 died with the effect committed and the result unsent")
            try cluster.startWorker("w2")
            let outcome = await client.outcome(of: "d1")
            #expect(outcome.outputText == "committed w1:acct+5", "\(outcome.result)")
            #expect(outcome.attempt == 2 && outcome.worker == "w2", "the re-run on w2 got the first run's outcome")
            try cluster.startWorker("w1", logName: "w1-restarted")
            try await cluster.waitForWorkers(2, using: client)
            // Until the resent COMMIT reaches the restarted w1, the key is still locked (CONFLICT).
            try await eventually("w1's store has the deposit", within: .seconds(10)) {
                try await read(client, [("w1", "acct")]).1 == [5]
            }
            #expect(try await balances(client, [("w1", "acct")]) == [5], "applied once, not twice")
            expectClean(try await settledAudit(cluster), bank: false)
            await client.close()
        }

        /// A handler waiting for its effect's outcome when the coordinator dies is woken with an
        /// error, so that its worker reconnects (it hung forever, never reconnecting and deaf to SIGTERM).
        @Test func aWorkerWhoseTaskWaitsForItsEffectWhenTheCoordinatorDiesReconnectsAndTheTaskFinishesOnce() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            cluster.signal("w2", SIGSTOP)  // its PREPARE goes unanswered: the deposit on w1 waits for its outcome
            try await client.submit([TaskRequest(taskID: "d1", kind: "deposit", text: "w2:acct:5")])  // idle workers tie: w1 runs it
            try await eventually("the deposit runs on w1") { try await client.status().workers.first { $0.name == "w1" }?.inFlight == 1 }
            try await Task.sleep(for: .milliseconds(300))  // its transaction request reaches the coordinator
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            cluster.signal("w2", SIGCONT)
            let again = try await cluster.client()
            try await eventually("w1 and w2 register with the new coordinator", within: .seconds(20)) { try await again.status().workers.count == 2 }
            _ = try await again.attach(["d1"])
            let outcome = await again.outcome(of: "d1")
            #expect(outcome.outputText == "committed w2:acct+5", "\(outcome.result) \(outcome.history)")
            // Its second attempt waited for w2 to register again rather than aborting "not connected".
            #expect(outcome.attempt == 2 && outcome.history.map(\.lost) == [true], "\(outcome.history)")
            try await eventually("w2's store has the deposit", within: .seconds(10)) { try await read(again, [("w2", "acct")]).1 == [5] }
            expectClean(try await settledAudit(cluster), bank: false)
            cluster.signal("w1", SIGTERM)
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 0, "w1 drains and exits on SIGTERM")
            await again.close()
        }

        /// Deposits to one key contend for its lock: each retries its aborted effect as its next
        /// one, so all of them commit, once each (most failed CONFLICT on their first try before).
        @Test func depositsToOneHotKeyAllCommitOnceEach() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            let outcomes = try await client.run((0..<120).map { TaskRequest(taskID: "hot-\($0)", kind: "deposit", text: "w2:hot:1") })
            let failed = outcomes.filter { $0.outputText != "committed w2:hot+1" }
            #expect(failed.isEmpty, "\(failed.prefix(3).map(\.result))")
            #expect(try await balances(client, [("w2", "hot")]) == [120], "each applied once")
            expectClean(try await settledAudit(cluster), bank: false)
            await client.close()
        }
    }
}
