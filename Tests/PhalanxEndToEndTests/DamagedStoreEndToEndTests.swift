import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A worker whose participant store cannot be read runs tasks but is not a silent member: it
    /// says why in `phalanx status` and on /readyz, a transaction naming it aborts with the reason,
    /// its ABORTs are acknowledged, and the audit names it at once with the cause instead of
    /// waiting out its timeout.
    @Suite(.timeLimit(.minutes(2))) struct DamagedStoreEndToEndTests {
        @Test func aWorkerWithADamagedStoreSaysSoInStatusReadyzTransactionsAndTheAudit() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let folder = cluster.directory.appendingPathComponent("workers/w2")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(String(repeating: "this is not an SQLite database\n", count: 200).utf8).write(to: folder.appendingPathComponent("participant.sqlite"))
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")
            let portFile = cluster.directory.appendingPathComponent("w2-metrics-port").path
            try cluster.startWorker("w2", ["--metrics-port-file", portFile])
            let client = try await cluster.client()
            defer { Task { await client.close() } }
            try await cluster.waitForWorkers(2, using: client)

            let outcome = try await client.transact([
                ParticipantOperations(participant: "w1", operations: [.put(key: "a", value: .integer(1))]),
                ParticipantOperations(participant: "w2", operations: [.put(key: "b", value: .integer(1))]),
            ])
            #expect(!outcome.committed && outcome.reason?.code == .unavailable && outcome.reason?.originNode == "w2", "\(String(describing: outcome.reason))")
            #expect(outcome.reason?.message.contains("the file is damaged") == true, "\(String(describing: outcome.reason))")

            try await eventually("the status shows why w2's store is not available") {
                try await client.status().workers.first { $0.name == "w2" }?.participantProblem?.contains("the file is damaged") == true
            }
            #expect(try await client.status().workers.first { $0.name == "w1" }?.participantProblem == nil)
            let status = try ClusterProcesses.runToCompletion(["status"] + cluster.clientArguments)
            #expect(status.stdout.contains("PARTICIPANT STORE NOT AVAILABLE"), "\(status)")

            let port = try #require((try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            let readyz = try await MetricsEndToEndTests.get(port, "/readyz")
            #expect(readyz.status == .serviceUnavailable && readyz.text.contains("participant store is not available"), "\(readyz)")
            let metrics = Exposition(try await MetricsEndToEndTests.get(port, "/metrics").text)
            #expect(metrics.value("phalanx_worker_participant_unavailable") == 1, "\(metrics.text)")
            if let page = cluster.coordinatorMetricsPort() {
                #expect(try await MetricsEndToEndTests.get(page, "/").text.contains("w2: participant store not available"))
            } else {
                Issue.record("the coordinator's metrics port is not known")
            }

            // The audit does not wait out its minute for w2, and the ABORT w2 voted NO on ended.
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            var audit = try await admin.audit(pendingThreshold: .milliseconds(200), snapshotTimeout: .seconds(60))
            try await eventually("the abort is acknowledged by both and ends", within: .seconds(10), poll: .milliseconds(200)) {
                audit = try await admin.audit(pendingThreshold: .milliseconds(200), snapshotTimeout: .seconds(60))
                return audit.summary.report.violations.isEmpty
            }
            #expect(audit.unreachable == ["w2"])
            #expect(audit.reasons["w2"]?.contains("cannot read its participant store") == true || audit.reasons["w2"]?.contains("is not available") == true,
                    "\(audit.reasons)")
        }

        @Test func aStoreThatStopsTakingWritesIsReportedAndReopenedOnceItIsRepaired() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { await client.close() } }
            func put(_ value: Int64) async throws -> TransactionOutcome {
                try await client.transact([ParticipantOperations(participant: "w2", operations: [.put(key: "k", value: .integer(value))])])
            }
            let first = try await put(1)
            #expect(first.committed)
            try await eventually("w2 applied the first put") { try await client.transaction(first.id)?.endedUnixMilliseconds != nil }
            // Behind the worker's back, the table of applied transactions goes: its next outcome cannot be written.
            let store = try ParticipantStore(path: "\(cluster.directory.path)/workers/w2/participant.sqlite")
            try store.executeForTesting("ALTER TABLE applied RENAME TO applied_moved")
            let second = try await put(2)
            #expect(second.committed, "the decision is the coordinator's, w2 voted YES: \(String(describing: second.reason))")
            try await eventually("the status says w2's store is not available", within: .seconds(15), poll: .milliseconds(200)) {
                try await client.status().workers.first { $0.name == "w2" }?.participantProblem?.contains("participant store") == true
            }
            let refused = try await put(3)
            #expect(!refused.committed && refused.reason?.code == .unavailable && refused.reason?.originNode == "w2", "\(String(describing: refused.reason))")
            // Repaired: the store is opened again without a restart (tried again with the heartbeats,
            // no transaction needed), and the commit it owed is applied.
            try store.executeForTesting("ALTER TABLE applied_moved RENAME TO applied")
            try await eventually("the problem is gone from the status without any transaction", within: .seconds(15), poll: .milliseconds(200)) {
                try await client.status().workers.first { $0.name == "w2" }?.participantProblem == nil
            }
            try await eventually("w2 applies the commit it owed", within: .seconds(20), poll: .milliseconds(300)) {
                let read = try await client.transact([ParticipantOperations(participant: "w2", operations: [.get(key: "k")])])
                guard read.committed, case .integer(let value)?? = read.reads["w2"]?["k"] else { return false }
                return value == 2
            }
        }

        /// A prepare whose write fails is answered NO at once with the cause, not left to the
        /// coordinator's vote deadline (it never became durable, so NO is safe).
        @Test func aPrepareThatCannotBeWrittenIsVotedNoWithTheCause() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { await client.close() } }
            // A first transaction, applied and acknowledged: w2's store is open (it opens after w2
            // registers) and its outcome written before the table goes.
            let first = try await client.transact([ParticipantOperations(participant: "w2", operations: [.put(key: "k", value: .integer(0))])])
            #expect(first.committed)
            try await eventually("w2 applied the first put") { try await client.transaction(first.id)?.endedUnixMilliseconds != nil }
            let store = try ParticipantStore(path: "\(cluster.directory.path)/workers/w2/participant.sqlite")
            try store.executeForTesting("ALTER TABLE prepared RENAME TO prepared_moved")
            let outcome = try await client.transact([ParticipantOperations(participant: "w2", operations: [.put(key: "k", value: .integer(1))])])
            #expect(!outcome.committed && outcome.reason?.code == .unavailable && outcome.reason?.originNode == "w2", "\(String(describing: outcome.reason))")
            #expect(outcome.reason?.message.contains("cannot write the participant store of w2") == true, "\(String(describing: outcome.reason))")
        }

        /// A store file deleted or replaced under its running worker is noticed: transactions get NO
        /// with the reason (nothing more is written to a file that the next start would not find),
        /// and `status` says so. Restarted on another worker's store, a worker refuses it.
        @Test func aStoreDeletedUnderItsWorkerOrAnotherWorkersStoreIsRefusedNotUsed() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            var client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { [client] in await client.close() } }
            func put(_ node: String, _ value: Int64) async throws -> TransactionOutcome { try await putKey(client, on: node, value) }
            #expect(try await put("w1", 1).committed)
            #expect(try await put("w2", 1).committed)
            let workers = cluster.directory.appendingPathComponent("workers")
            removeStore(in: workers.appendingPathComponent("w2"))
            // Noticed by the worker's own check (with its heartbeats), before any transaction asks.
            try await eventually("the status says w2's store was deleted", within: .seconds(15), poll: .milliseconds(200)) {
                try await client.status().workers.first { $0.name == "w2" }?.participantProblem?.contains("was deleted") == true
            }
            let afterDelete = try await put("w2", 2)
            #expect(!afterDelete.committed && afterDelete.reason?.code == .unavailable && afterDelete.reason?.originNode == "w2", "\(String(describing: afterDelete.reason))")
            #expect(afterDelete.reason?.message.contains("was deleted while the worker ran") == true, "\(String(describing: afterDelete.reason))")
            #expect(!FileManager.default.fileExists(atPath: workers.appendingPathComponent("w2/participant.sqlite").path), "no empty store is made in its place")
            #expect(try await put("w1", 2).committed, "the other worker goes on")

            // A new session (the coordinator restarted) does not open the path again: that would
            // make an empty store in its place.
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            client = try await cluster.client()
            try await cluster.waitForWorkers(2, using: client)
            let afterRestart = try await put("w2", 3)
            #expect(!afterRestart.committed && afterRestart.reason?.message.contains("was deleted while the worker ran") == true, "\(String(describing: afterRestart.reason))")
            #expect(!FileManager.default.fileExists(atPath: workers.appendingPathComponent("w2/participant.sqlite").path), "no empty store after a new session")

            // w1's store copied under w2's name (both stopped): w2 refuses it.
            cluster.kill("w1")
            cluster.kill("w2")
            try copyStore(workers.appendingPathComponent("w1/participant.sqlite"), to: workers.appendingPathComponent("w2/participant.sqlite"))
            try cluster.startWorker("w2", logName: "w2-on-w1s-store")
            try await eventually("w2 registers again", within: .seconds(15)) { try await client.status().workers.contains { $0.name == "w2" } }
            let onForeign = try await put("w2", 3)
            #expect(!onForeign.committed && onForeign.reason?.code == .unavailable, "\(String(describing: onForeign.reason))")
            #expect(onForeign.reason?.message.contains("belongs to worker w1, not to w2") == true, "\(String(describing: onForeign.reason))")
        }

        /// A store lost while its worker was down (deleted, or replaced by an empty one) is not
        /// taken for that worker's: the coordinator remembers which store each worker uses (across
        /// its own restarts), and the worker refuses another one until its own is put back, or
        /// until it is started with --accept-new-store to accept the loss.
        @Test func aStoreLostWhileItsWorkerWasDownIsRefusedUntilPutBackOrAccepted() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            var client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { [client] in await client.close() } }
            func put(_ value: Int64) async throws -> TransactionOutcome { try await putKey(client, on: "w1", value) }
            func read() async throws -> StoreValue?? {
                try await client.transact([ParticipantOperations(participant: "w1", operations: [.get(key: "k")])]).reads["w1"]?["k"]
            }
            #expect(try await put(1).committed)
            try await waitUntilStoreRecorded(of: "w1", in: cluster)
            // w1 stops; its store goes away while it is down, and the coordinator restarts too.
            cluster.kill("w1")
            let folder = cluster.directory.appendingPathComponent("workers/w1")
            let aside = cluster.directory.appendingPathComponent("w1-store-aside")
            try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: true)
            try moveStore(from: folder, to: aside)
            removeStore(in: folder, ["-shm"])
            await client.close()
            cluster.kill("coordinator")
            try await cluster.startCoordinator()
            client = try await cluster.client()
            try cluster.startWorker("w1", logName: "w1-new-store")
            try await cluster.waitForWorkers(2, using: client)

            let refused = try await put(2)
            #expect(!refused.committed && refused.reason?.code == .unavailable && refused.reason?.originNode == "w1", "\(String(describing: refused.reason))")
            #expect(refused.reason?.message.contains("is not the one the coordinator knows for worker w1") == true, "\(String(describing: refused.reason))")
            #expect(refused.reason?.message.contains("--accept-new-store") == true)
            try await eventually("the status says why", within: .seconds(10)) {
                try await client.status().workers.first { $0.name == "w1" }?.participantProblem?.contains("not the one the coordinator knows") == true
            }

            // Put back while the worker runs, it is not taken (a store copied back file by file
            // would be opened half restored); the worker is restarted once it is back.
            removeStore(in: folder)
            try moveStore(from: aside, to: folder)
            #expect(try await put(3).reason?.message.contains("not the one the coordinator knows") == true, "a transaction, which tries the store again, is refused until the worker restarts")
            cluster.kill("w1-new-store")
            try cluster.startWorker("w1", logName: "w1-own-store")
            try await eventually("w1 uses its own store again", within: .seconds(15), poll: .milliseconds(300)) { try await put(3).committed }
            #expect(try await read() == .some(.integer(3)))

            // Lost for good, and accepted: the worker goes on with a new store, and the coordinator
            // records that one.
            cluster.kill("w1-own-store")
            removeStore(in: folder)
            try cluster.startWorker("w1", logName: "w1-accepted", ["--accept-new-store"])
            try await eventually("w1 takes transactions on a new store", within: .seconds(15), poll: .milliseconds(300)) { try await put(4).committed }
            #expect(cluster.log("w1-accepted").contains("going on with a participant store the coordinator does not know"))
            try await eventually("the coordinator records the new store", within: .seconds(10)) {
                cluster.log("coordinator").contains("a worker goes on with another participant store")
            }
        }

        /// A worker killed before it acknowledged a commit, whose store is then lost and the loss
        /// accepted: the decision stops waiting for it (it was resent every second, forever) and
        /// the transaction ends. The coordinator records the accepted loss: the audit, online and
        /// offline, names the loss and the commit the new store lacks, and is clean (it stayed red
        /// for the whole retention, with nothing an operator could do).
        @Test func anAcceptedLossReleasesTheDecisionsTheLostStoreNeverAcknowledged() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1", environment: ["PHALANX_FAILPOINTS": "participant.after_outcome_durable"])
            try cluster.startWorker("w2")
            let client = try await cluster.client()
            defer { Task { await client.close() } }
            try await cluster.waitForWorkers(2, using: client)
            try await waitUntilStoreRecorded(of: "w1", in: cluster)
            let id = "lost-with-its-store"
            _ = try? await client.transact(
                [ParticipantOperations(participant: "w1", operations: [.put(key: "k", value: .integer(1))]),
                 ParticipantOperations(participant: "w2", operations: [.put(key: "k", value: .integer(1))])], id: id)
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 86, "w1 stopped before it acknowledged the commit")
            #expect(try await client.transaction(id)?.endedUnixMilliseconds == nil, "the decision waits for w1")

            let folder = cluster.directory.appendingPathComponent("workers/w1")
            removeStore(in: folder)
            try cluster.startWorker("w1", logName: "w1-accepted", ["--accept-new-store"])
            try await eventually("the transaction ends without w1's acknowledgement", within: .seconds(15), poll: .milliseconds(200)) {
                try await client.transaction(id)?.endedUnixMilliseconds != nil
            }
            #expect(cluster.log("coordinator").contains("no longer wait for it"))
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            let report = try await admin.audit().summary.report
            #expect(report.violations.isEmpty, "\(report.violations)")
            #expect(report.explainedByAcceptedLosses.map(\.kind) == [.commitNotApplied], "\(report.explainedByAcceptedLosses)")
            #expect(report.explainedByAcceptedLosses.first.map { $0.transaction == id && $0.node == "w1" } == true)
            #expect(report.acceptedLosses.map(\.worker) == ["w1"] && report.acceptedLosses.first?.previousWrites ?? 0 > 0, "\(report.acceptedLosses)")
            let text = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin"])
            #expect(text.status == 0, "\(text)")
            #expect(text.stdout.contains("ACCEPTED LOSS: w1 went on with another participant store at "), "\(text)")
            #expect(text.stdout.contains("explained by the accepted losses, not counted as violations: 1"), "\(text.stdout)")
            #expect(text.stdout.contains("commit_not_applied") && text.stdout.contains(id) && text.stdout.contains("clean: no violations"), "\(text.stdout)")
            await client.close()
            await admin.close()
            cluster.stopAll()
            let offline = try ClusterProcesses.runToCompletion(["audit", "--offline"] + cluster.clientArguments)
            #expect(offline.status == 0 && offline.stdout.contains("ACCEPTED LOSS: w1"), "\(offline)")
        }

        /// An older copy of a worker's own store (put back from a backup, or its main file without
        /// the -wal) has the right id but fewer durable writes than the store last reported: it is
        /// refused like another store.
        @Test func anOlderCopyOfAWorkersOwnStoreIsRefused() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { await client.close() } }
            func put(_ value: Int64) async throws -> TransactionOutcome { try await putKey(client, on: "w1", value) }
            #expect(try await put(1).committed)
            let folder = cluster.directory.appendingPathComponent("workers/w1")
            let backup = cluster.directory.appendingPathComponent("w1-backup.sqlite")
            cluster.signal("w1", SIGTERM)  // a clean stop
            #expect(try await cluster.waitForExit("w1", within: .seconds(15)) == 0)
            try copyStore(folder.appendingPathComponent("participant.sqlite"), to: backup)
            let backedUp = try ParticipantStore(path: backup.path).claim(for: "w1").writes

            try cluster.startWorker("w1", logName: "w1-after-backup")
            try await cluster.waitForWorkers(2, using: client)
            #expect(try await put(2).committed)
            let ledger = try SQLiteTaskLedger(path: cluster.directory.appendingPathComponent("coordinator/tasks.sqlite").path)
            try await eventually("the coordinator recorded w1's newer writes", within: .seconds(10), poll: .milliseconds(100)) {
                (try await ledger.workerParticipantStores()["w1"]?.writes ?? 0) > backedUp
            }
            try await restart("w1-after-backup", as: "w1-on-backup", onCopyOf: backup, in: folder, cluster, client)
            let refused = try await put(3)
            #expect(!refused.committed && refused.reason?.code == .unavailable, "\(String(describing: refused.reason))")
            #expect(refused.reason?.message.contains("is an older copy of worker w1's store") == true, "\(String(describing: refused.reason))")

            // Accepted, the older copy becomes a store of its own (a new id): another copy of the
            // old store is not taken for it later, however many writes it holds.
            let acceptedID = try #require(try await ledger.workerParticipantStores()["w1"]?.id)
            cluster.kill("w1-on-backup")
            try cluster.startWorker("w1", logName: "w1-accepted-backup", ["--accept-new-store"])
            try await eventually("w1 goes on with the older copy", within: .seconds(15), poll: .milliseconds(300)) { try await put(4).committed }
            #expect(cluster.log("w1-accepted-backup").contains("going on with an older copy of this worker's participant store"))
            try await eventually("the coordinator records the copy under its new id", within: .seconds(10), poll: .milliseconds(100)) {
                let recorded = try await ledger.workerParticipantStores()["w1"]?.id
                return recorded != nil && recorded != acceptedID
            }
            try await restart("w1-accepted-backup", as: "w1-on-backup-again", onCopyOf: backup, in: folder, cluster, client)
            let forked = try await put(5)
            #expect(!forked.committed && forked.reason?.message.contains("is not the one the coordinator knows") == true, "\(String(describing: forked.reason))")
        }

        /// The count the coordinator knows is as new as the last vote or acknowledgement, not the
        /// last heartbeat: with heartbeats 10 s apart, a store's main file without the -wal that
        /// held its last transaction is still refused as an older copy.
        @Test func votesAndAcknowledgementsTellTheCoordinatorTheCountBetweenHeartbeats() async throws {
            let cluster = try ClusterProcesses(settings: ["coordinator.heartbeat_interval_ms=10000"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            defer { Task { await client.close() } }
            func put(_ value: Int64) async throws -> TransactionOutcome { try await putKey(client, on: "w1", value) }
            #expect(try await put(1).committed)
            cluster.signal("w1", SIGTERM)  // everything, the store's id with it, into the main file
            #expect(try await cluster.waitForExit("w1", within: .seconds(15)) == 0)
            let log = cluster.directory.appendingPathComponent("workers/w1/participant.sqlite-wal").path
            #expect((try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0 == 0, "a clean stop leaves nothing in the -wal")
            try cluster.startWorker("w1", logName: "w1-second")
            try await cluster.waitForWorkers(2, using: client)
            #expect(try await put(2).committed, "its changes are in the -wal only (no checkpoint yet)")
            cluster.kill("w1-second")  // before its next heartbeat, 10 s away
            let folder = cluster.directory.appendingPathComponent("workers/w1")
            removeStore(in: folder, ["-wal", "-shm"])
            try cluster.startWorker("w1", logName: "w1-main-file-only")
            try await cluster.waitForWorkers(2, using: client)
            let refused = try await put(3)
            #expect(!refused.committed && refused.reason?.message.contains("is an older copy of worker w1's store") == true, "\(String(describing: refused.reason))")
        }
    }
}

/// Puts `k = value` on `node` alone.
private func putKey(_ client: PhalanxClient, on node: String, _ value: Int64) async throws -> TransactionOutcome {
    try await client.transact([ParticipantOperations(participant: node, operations: [.put(key: "k", value: .integer(value))])])
}

/// Removes a worker's participant store from `folder` (the files given by their suffixes).
private func removeStore(in folder: URL, _ suffixes: [String] = ["", "-wal", "-shm"]) {
    for suffix in suffixes { try? FileManager.default.removeItem(at: folder.appendingPathComponent("participant.sqlite\(suffix)")) }
}

/// Moves the store files in `folder` that exist (main file and -wal) to `destination`, the -wal first.
private func moveStore(from folder: URL, to destination: URL) throws {
    for suffix in ["-wal", ""] where FileManager.default.fileExists(atPath: folder.appendingPathComponent("participant.sqlite\(suffix)").path) {
        try FileManager.default.moveItem(at: folder.appendingPathComponent("participant.sqlite\(suffix)"), to: destination.appendingPathComponent("participant.sqlite\(suffix)"))
    }
}

/// Kills w1 (running as `running`), puts the `backup` copy of its store in its place and starts it
/// again (logging as `logName`), once both workers are registered.
private func restart(_ running: String, as logName: String, onCopyOf backup: URL, in folder: URL, _ cluster: ClusterProcesses, _ client: PhalanxClient) async throws {
    cluster.kill(running)
    removeStore(in: folder)
    try copyStore(backup, to: folder.appendingPathComponent("participant.sqlite"))
    try cluster.startWorker("w1", logName: logName)
    try await cluster.waitForWorkers(2, using: client)
}

/// Copies a stopped store, its -wal with it when there is one: a stop that leaves the last
/// changes in the -wal (not checkpointed) is a stopped store too, and its main file alone is older.
private func copyStore(_ source: URL, to destination: URL) throws {
    for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: source.path + suffix) {
        try FileManager.default.copyItem(atPath: source.path + suffix, toPath: destination.path + suffix)
    }
}

/// Waits until the coordinator logged that it recorded `worker`'s participant store.
private func waitUntilStoreRecorded(of worker: String, in cluster: ClusterProcesses) async throws {
    try await eventually("the coordinator recorded \(worker)'s store", within: .seconds(10)) {
        cluster.log("coordinator").split(separator: "\n").contains { $0.contains("recorded the participant store of a worker") && $0.contains("\"worker\":\"\(worker)\"") }
    }
}
