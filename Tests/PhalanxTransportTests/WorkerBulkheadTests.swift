import Foundation
import Logging
import Synchronization
import PhalanxClient
import PhalanxCluster
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import Testing

/// A real worker (in-process, over loopback mutual TLS) running tasks of a kind with a bulkhead:
/// no more of them run at once than the bulkhead allows, while the worker's capacity is larger.
@Suite(.serialized, .timeLimit(.minutes(1))) struct WorkerBulkheadTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Counts the handlers running now and the most that ever ran at once.
    final class ConcurrencyProbe: Sendable {
        private let counts = Mutex((running: 0, peak: 0, finished: 0))

        var peak: Int { counts.withLock { $0.peak } }

        func handler() -> TaskHandler {
            { [self] input in
                counts.withLock { counts in
                    counts.running += 1
                    counts.peak = max(counts.peak, counts.running)
                }
                try await Task.sleep(for: .milliseconds(30))
                counts.withLock { counts in
                    counts.running -= 1
                    counts.finished += 1
                }
                return input.payload
            }
        }
    }

    /// Runs `body` with a client of an in-process coordinator whose one worker (w1) serves `handlers`
    /// and has registered; the worker stops after `body`.
    func withWorker<T: Sendable>(
        handlers: TaskHandlerRegistry, capacity: Int, prefetch: Int = 0, bulkheads: [String: Int] = [:],
        _ body: @Sendable (PhalanxClient) async throws -> T
    ) async throws -> T {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            var configuration = WorkerConfiguration(
                coordinatorHost: "127.0.0.1", coordinatorPort: coordinator.port, tls: TestCertificates.files("w1"),
                limits: coordinator.limits, capacity: capacity, resultBatchSize: 1, bulkheads: bulkheads)
            configuration.prefetch = prefetch
            configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("phalanx-workers-\(UUID().uuidString)").path
            let runtime = WorkerRuntime(configuration: configuration, handlers: handlers, logger: quiet)
            let worker = Task { try await runtime.run() }
            defer { worker.cancel() }
            let client = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("client"), limits: coordinator.limits, logger: quiet)
            try await eventually("the worker registered") { try await client.status().workers.count == 1 }
            return try await body(client)
        }
    }

    /// Runs 16 `probe` tasks on one worker of capacity 8 with `bulkheads`; returns the peak concurrency.
    func peakConcurrency(bulkheads: [String: Int]) async throws -> Int {
        let probe = ConcurrencyProbe()
        var handlers = TaskHandlerRegistry.builtIn
        handlers.register("probe", probe.handler())
        return try await withWorker(handlers: handlers, capacity: 8, bulkheads: bulkheads) { client in
            let outcomes = try await client.run((0..<16).map { TaskRequest(taskID: "p\($0)", kind: "probe", text: "\($0)") })
            await client.close()
            #expect(outcomes.count == 16)
            #expect(outcomes.allSatisfy { if case .success = $0.result { true } else { false } })
            return probe.peak
        }
    }

    @Test func aKindWithABulkheadRunsNoMoreAtOnceThanItsLimitAndTheRestWaitTheirTurn() async throws {
        #expect(try await peakConcurrency(bulkheads: ["probe": 2]) == 2)
    }

    @Test func withoutABulkheadTheKindUsesTheWorkersWholeCapacity() async throws {
        #expect(try await peakConcurrency(bulkheads: [:]) > 2)
    }

    /// One cancel of the running task and the prefetched ones behind it: none of those that waited
    /// for a slot starts (the running one's slot, freed by its cancel, must not go to one of them).
    @Test func cancellingARunningTaskWithThePrefetchedOnesBehindItStartsNoneOfThem() async throws {
        let starts = Mutex<[String]>([])
        var handlers = TaskHandlerRegistry.builtIn
        handlers.register("hold") { input in
            starts.withLock { $0.append(input.taskID) }
            try await Task.sleep(for: .seconds(60))  // until cancelled
            return []
        }
        try await withWorker(handlers: handlers, capacity: 1, prefetch: 50) { client in
            for round in 0..<5 {
                let ids = (0..<30).map { "r\(round)-\($0)" }
                try await client.submit(ids.map { TaskRequest(taskID: $0, kind: "hold", text: "") })
                try await eventually("the first task started and the rest wait on the worker") {
                    let running = try await client.status().tasksRunning
                    return starts.withLock { $0.count } == round + 1 && running == 30
                }
                let cancelled = try await client.cancel(ids)
                #expect(cancelled.cancelled.count == 30, "\(cancelled)")
                for id in ids {
                    let outcome = await client.outcome(of: id)
                    guard case .failure(let error) = outcome.result else {
                        Issue.record("\(id) succeeded")
                        continue
                    }
                    #expect(error.code == .cancelled, "\(id): \(error)")
                }
                #expect(starts.withLock { $0.count } == round + 1, "started: \(starts.withLock { $0 })")
            }
            await client.close()
        }
    }
}
