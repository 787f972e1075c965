import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// System failures are retried across workers after a backoff; business failures never are;
    /// `phalanx result ID --json` shows the attempt history.
    @Suite(.timeLimit(.minutes(1))) struct RetryEndToEndTests {
        @Test func aSystemFailureIsRetriedOnTheOtherWorkerAndItsHistoryIsVisibleWhileABusinessFailureRunsOnce() async throws {
            let cluster = try ClusterProcesses(settings: ["retry.max_attempts=3", "retry.initial_backoff_ms=50"])
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])

            let outcomes = try await client.run([
                TaskRequest(taskID: "system", kind: "fail", text: "system"), TaskRequest(taskID: "business", kind: "fail", text: "business"),
                TaskRequest(taskID: "once", kind: "fail", text: "system", maxAttempts: 1),
            ])
            let system = outcomes[0]
            #expect(system.attempt == 3 && system.history.map(\.attempt) == [1, 2], "\(system.history)")
            let workers = system.history.map(\.worker) + [system.worker ?? ""]
            #expect(workers[0] != workers[1] && workers[1] != workers[2], "each retry ran on the other worker: \(workers)")
            #expect(system.history.allSatisfy { $0.error.failureClass == .system })
            #expect(outcomes[1].attempt == 1 && outcomes[1].history.isEmpty)
            #expect(outcomes[2].attempt == 1 && outcomes[2].history.isEmpty)
            await client.close()

            let shown = try ClusterProcesses.runToCompletion(["result"] + cluster.clientArguments + ["system", "--json"])
            #expect(shown.status == 3, "\(shown.stdout)\(shown.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            let result = (report?["results"] as? [[String: Any]])?.first
            let history = result?["history"] as? [[String: Any]] ?? []
            #expect(result?["attempt"] as? Int == 3 && history.count == 2 && history.first?["worker"] as? String == workers[0], "\(shown.stdout)")
        }
    }
}
