import Foundation
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A registered TCC resource (the example `stock` every worker registers) in transactions and
    /// sagas across real worker processes, crashes around its hooks, and the audit of its state.
    @Suite(.timeLimit(.minutes(2))) struct ResourceEndToEndTests {
        func book(_ cluster: ClusterProcesses, _ worker: String) throws -> StockBook {
            try StockBook(path: "\(cluster.directory.path)/workers/\(worker)/stock.sqlite")
        }

        /// w1's stock once every decision has reached it (a client hears the outcome when the
        /// decision is durable; the resources apply it right after).
        func settledStock(_ cluster: ClusterProcesses) async throws -> (onHand: [String: Int64], holds: [String: [String: Int64]]) {
            _ = try await settledAudit(cluster)
            return try book(cluster, "w1").state()
        }

        func reserve(_ sku: String, _ quantity: Int) -> StoreOperation {
            .resource(ResourceOperation(resource: "stock", action: "reserve", key: sku, argument: Array("\(quantity)".utf8)))
        }

        /// Restocks `sku` on w1 and puts 100 in `acct` on w2.
        func seed(_ client: PhalanxClient) async throws {
            let seeded = try await client.transact([
                ParticipantOperations(
                    participant: "w1", operations: [.resource(ResourceOperation(resource: "stock", action: "restock", key: "sku-1", argument: Array("10".utf8)))]),
                ParticipantOperations(participant: "w2", operations: [.put(key: "acct", value: .integer(100), lowerBound: 0)]),
            ])
            #expect(seeded.committed, "\(String(describing: seeded.reason))")
        }

        func settledAudit(_ cluster: ClusterProcesses) async throws -> AuditSummary {
            let admin = try await cluster.client("admin")
            defer { Task { await admin.close() } }
            var last = try await admin.audit(snapshotTimeout: .seconds(3))
            try await eventually("nothing in progress or in doubt", within: .seconds(15), poll: .milliseconds(200)) {
                last = try await admin.audit(snapshotTimeout: .seconds(3))
                return last.summary.report.inDoubt == 0 && last.summary.report.inProgress == 0
            }
            #expect(last.unreachable == [])
            return last.summary
        }

        @Test func aResourceCommitsAbortsAndCompensatesWithTheStoreAndTheAuditJudgesItsState() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await seed(client)
            let bought = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["w1:@stock/reserve/sku-1=3", "w2:acct-=30"])
            #expect(bought.status == 0 && bought.stdout.contains("committed"), "\(bought)")
            #expect(try await settledStock(cluster).onHand == ["sku-1": 7])

            let short = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["w1:@stock/reserve/sku-1=8", "w2:acct-=1"])
            #expect(short.status == 1, "\(short)")
            #expect(short.stdout.contains("BUSINESS_REJECTED from w1") && short.stdout.contains("7 available"), "the resource's reason: \(short.stdout)")
            let twice = try ClusterProcesses.runToCompletion(
                ["tx", "run"] + cluster.clientArguments + ["w1:@stock/reserve/sku-1=4", "w1:@stock/reserve/sku-1=4"])
            #expect(twice.status == 1 && twice.stdout.contains("8 asked"), "two operations on one item count together: \(twice)")
            let unknown = try await client.transact([
                ParticipantOperations(participant: "w1", operations: [.resource(ResourceOperation(resource: "nope", action: "x", key: "k"))])
            ])
            #expect(unknown.reason?.code == .invalidArgument && unknown.reason?.message.contains("no resource named nope") == true, "\(String(describing: unknown.reason))")
            let badSyntax = try ClusterProcesses.runToCompletion(["tx", "run"] + cluster.clientArguments + ["w1:@stock/reserve"])
            #expect(badSyntax.status == 2 && badSyntax.stderr.contains("NODE:@RESOURCE/ACTION/KEY"), "\(badSyntax)")

            // Step 2 breaks the bound: step 1's reservation is given back by the compensate hook.
            let saga = try ClusterProcesses.runToCompletion(
                ["saga"] + cluster.clientArguments + ["w1:@stock/reserve/sku-1=2 | w1:@stock", "w2:acct-=1000 | w2:acct+=1000"])
            #expect(saga.status == 1 && saga.stdout.contains("compensated step(s) 1"), "\(saga)")
            let state = try await settledStock(cluster)
            #expect(state.onHand == ["sku-1": 7], "reserved by step 1, given back by its compensation")
            #expect(state.holds.isEmpty, "no hold is left behind by the NO, the commit or the compensation")
            let clean = try await settledAudit(cluster)
            #expect(clean.report.violations == [], "\(clean.report.violations)")

            // Damage behind the cluster's back: a hold for no prepared transaction, and stock below 0.
            try book(cluster, "w1").hold("ghost", [StockBook.Line(sku: "sku-1", quantity: -1)])
            try book(cluster, "w1").plant(sku: "sku-2", onHand: -4)
            let damaged = try ClusterProcesses.runToCompletion(["audit"] + cluster.clientArguments + ["--name", "admin"])
            #expect(damaged.status == 1, "\(damaged)")
            #expect(damaged.stdout.contains("resource_reservation_leaked [transaction ghost, node w1, key @stock]"), "\(damaged.stdout)")
            #expect(damaged.stdout.contains("resource_invariant_broken [node w1, key @stock]: resource stock on w1: sku-2 has -4 on hand"), "\(damaged.stdout)")
            await client.close()
        }

        /// Take 3 of sku-1 on w1 and pay 30 from acct on w2.
        var purchase: [ParticipantOperations] {
            [
                ParticipantOperations(participant: "w1", operations: [reserve("sku-1", 3)]),
                ParticipantOperations(participant: "w2", operations: [.add(key: "acct", amount: -30, lowerBound: 0)]),
            ]
        }

        /// w1 and w2 seeded (and settled), then w1 restarted to exit at `failpoint`.
        func seededWithW1Failing(at failpoint: String, _ cluster: ClusterProcesses) async throws -> PhalanxClient {
            let client = try await cluster.startWithWorkers(["w1", "w2"])
            try await seed(client)
            _ = try await settledAudit(cluster)  // the seed's commit has reached w1's resource
            cluster.kill("w1")
            try await cluster.waitUntilGone("w1", using: client)
            try cluster.startWorker("w1", environment: ["PHALANX_FAILPOINTS": failpoint])
            try await cluster.waitForWorkers(2, using: client)
            return client
        }

        func restartW1AndExpectACleanAudit(_ cluster: ClusterProcesses, _ client: PhalanxClient) async throws {
            try await cluster.waitUntilGone("w1", using: client)
            try cluster.startWorker("w1", logName: "w1-restarted")
            try await cluster.waitForWorkers(2, using: client)
            let settled = try await settledAudit(cluster)
            #expect(settled.report.violations == [], "\(settled.report.violations)")
        }

        @Test func aWorkerKilledAfterItsResourcePreparedReleasesTheHoldAfterItsRestart() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await seededWithW1Failing(at: "participant.after_resource_prepared", cluster)
            let lost = try await client.transact(purchase)
            #expect(!lost.committed, "w1 died before it voted")
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 86)
            #expect(try book(cluster, "w1").state().holds.count == 1, "the hook placed its hold before the crash")

            try await restartW1AndExpectACleanAudit(cluster, client)
            #expect(try book(cluster, "w1").state().holds.isEmpty, "the ABORT reached the resource after the restart")
            let retried = try await client.transact(purchase)
            #expect(retried.committed, "the lock was released: \(String(describing: retried.reason))")
            let state = try await settledStock(cluster)
            #expect(state.onHand == ["sku-1": 7] && state.holds.isEmpty, "\(state)")
            await client.close()
        }

        @Test func aWorkerKilledAfterItsResourceCommittedAppliesTheCommitOnce() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await seededWithW1Failing(at: "participant.after_resource_committed", cluster)
            let outcome = try await client.transact(purchase)
            #expect(outcome.committed, "\(String(describing: outcome.reason))")
            #expect(try await cluster.waitForExit("w1", within: .seconds(10)) == 86)
            try await restartW1AndExpectACleanAudit(cluster, client)
            #expect(try await settledStock(cluster).onHand == ["sku-1": 7], "the decision resent after the restart took out 3 once")
            await client.close()
        }
    }
}
