import Foundation
import Logging
import PhalanxClient
import PhalanxCluster
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import Synchronization
import Testing

/// A real worker (in-process, over loopback mutual TLS) with a resource of its own whose hooks
/// outlast the vote timeout or fail: the order of the hooks and the locks around them.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ResourceHookTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let grace: Duration = .seconds(10)

    /// Records every hook call (with whether it ended by cancellation) in order.
    final class Probe: TransactionalResource {
        let name = "probe"
        /// How long a prepare of a transaction whose id starts with "slow" takes.
        let slowPrepare: Duration
        private let state = Mutex((calls: [String](), commitFailures: 0, hung: CheckedContinuation<Void, Never>?.none))

        init(slowPrepare: Duration = .seconds(30), commitFailures: Int = 0) {
            self.slowPrepare = slowPrepare
            state.withLock { $0.commitFailures = commitFailures }
        }

        var calls: [String] { state.withLock { $0.calls } }

        /// Lets a hanging prepare return.
        func release() { state.withLock { $0.hung.take() }?.resume() }

        private func record(_ call: String) { state.withLock { $0.calls.append(call) } }

        func prepare(_ transaction: ResourceTransaction) async throws {
            record("prepare \(transaction.id)")
            if transaction.id.hasPrefix("hang") {
                // Ignores cancellation: returns only when the test lets it.
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    state.withLock { $0.hung = continuation }
                }
                return
            }
            if transaction.id.hasPrefix("slow") {
                do {
                    try await Task.sleep(for: slowPrepare)
                } catch {
                    record("prepare \(transaction.id) cancelled")
                    throw error
                }
            }
            record("prepared \(transaction.id)")
        }

        func commit(_ transaction: ResourceTransaction) async throws {
            let fail = state.withLock { state in
                state.calls.append("commit \(transaction.id)")
                guard state.commitFailures > 0 else { return false }
                state.commitFailures -= 1
                return true
            }
            if fail { throw PhalanxError.system("the probe's backend is down") }
        }

        func abort(_ transaction: ResourceTransaction) async throws { record("abort \(transaction.id)") }
        func compensate(_ transaction: ResourceTransaction) async throws { record("compensate \(transaction.id)") }
    }

    /// A coordinator, a worker with `probe`, and a client connected to them.
    struct Cluster {
        let coordinator: InProcessCoordinator
        let worker: Task<Void, any Error>
        let client: PhalanxClient
    }

    func withWorker(_ probe: Probe, _ body: (PhalanxClient) async throws -> Void) async throws {
        try await withCluster(probe) { try await body($0.client) }
    }

    func withCluster(_ probe: Probe, _ body: (Cluster) async throws -> Void) async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), configure: { $0.transactionVoteTimeout = .milliseconds(300) }) { coordinator in
            var configuration = WorkerConfiguration(
                coordinatorHost: "127.0.0.1", coordinatorPort: coordinator.port, tls: TestCertificates.files("w1"), limits: coordinator.limits)
            configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-workers-\(UUID().uuidString)").path
            let runtime = WorkerRuntime(configuration: configuration, resources: [probe], logger: quiet)
            let worker = Task { try await runtime.run() }
            defer { worker.cancel() }
            let client = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("client"), limits: coordinator.limits, logger: quiet)
            try await eventually("the worker registered") { try await client.status().workers.count == 1 }
            try await body(Cluster(coordinator: coordinator, worker: worker, client: client))
            await client.close()
        }
    }

    func operations(_ key: String = "k") -> [ParticipantOperations] {
        [ParticipantOperations(participant: "w1", operations: [.resource(ResourceOperation(resource: "probe", action: "take", key: key))])]
    }

    @Test func aPrepareHookOutlastingTheVoteDeadlineIsCancelledAndAbortedOnlyAfterItReturned() async throws {
        let probe = Probe()
        try await withWorker(probe) { client in
            let slow = try await client.transact(operations(), id: "slow-1")
            #expect(!slow.committed)
            #expect(slow.reason?.code == .deadlineExceeded, "\(String(describing: slow.reason))")
            try await eventually("the abort hook ran") { probe.calls.contains("abort slow-1") }
            #expect(probe.calls == ["prepare slow-1", "prepare slow-1 cancelled", "abort slow-1"], "the abort never overtakes the prepare")
            try await eventually("the key is free again") { try await client.transact(operations(), id: "next-\(UUID())").committed }
        }
    }

    @Test func aWorkerStopsEvenWhileAPrepareHookIgnoresCancellationAndNeverReturns() async throws {
        let probe = Probe()
        defer { probe.release() }
        try await withCluster(probe) { cluster in
            let (coordinator, worker) = (cluster.coordinator, cluster.worker)
            let hung = try await cluster.client.transact(operations(), id: "hang-1")
            #expect(!hung.committed, "the vote deadline passed")
            #expect(probe.calls == ["prepare hang-1"])
            let admin = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("admin"), limits: coordinator.limits, logger: quiet)
            let started = ContinuousClock.now
            try await admin.drain(worker: "w1")  // the session ends: the participant closes
            _ = try? await worker.value
            await admin.close()
            let took = ContinuousClock.now - started
            #expect(took < .seconds(20), "closing waited \(took) for a hook that never returns")
            #expect(took >= ResourceHookTests.grace, "closing waited \(took) for the running hook first")
            #expect(!probe.calls.contains("abort hang-1"), "no abort while its prepare is still running")
        }
    }

    @Test func aPrepareHookJustInsideTheVoteDeadlineCommits() async throws {
        let probe = Probe(slowPrepare: .milliseconds(50))
        try await withWorker(probe) { client in
            let outcome = try await client.transact(operations(), id: "slow-2")
            #expect(outcome.committed, "\(String(describing: outcome.reason))")
            try await eventually("committed at the resource") { probe.calls.contains("commit slow-2") }
            #expect(probe.calls == ["prepare slow-2", "prepared slow-2", "commit slow-2"])
        }
    }

    @Test func aFailingCommitHookIsRetriedUntilItReturnsAndTheKeyStaysLockedMeanwhile() async throws {
        let probe = Probe(commitFailures: 2)
        try await withWorker(probe) { client in
            let outcome = try await client.transact(operations(), id: "t1")
            #expect(outcome.committed, "the decision is the coordinator's: \(String(describing: outcome.reason))")
            let meanwhile = try await client.transact(operations(), id: "t2")
            if probe.calls.filter({ $0 == "commit t1" }).count < 3 {
                #expect(meanwhile.reason?.code == .conflict, "locked until the commit hook returned: \(String(describing: meanwhile.reason))")
            }
            try await eventually("the third attempt succeeded and the decision was acknowledged") {
                try await client.transaction("t1")?.endedUnixMilliseconds != nil
            }
            #expect(probe.calls.filter { $0 == "commit t1" }.count == 3, "\(probe.calls)")
            #expect(try await client.transact(operations(), id: "t3").committed, "the key is free after the commit")
        }
    }
}
