import Foundation
import PhalanxClient
import PhalanxTesting
import Testing

extension EndToEnd {
    /// The coordinator's per-worker circuit breaker, tripped by failures and driven by an admin.
    @Suite(.timeLimit(.minutes(1))) struct BreakerEndToEndTests {
        static let fastBreaker = [
            "breaker.window_calls=10", "breaker.minimum_calls=5", "breaker.failure_rate_percent=50", "breaker.open_ms=700",
            "breaker.half_open_probes=1",
        ]

        @Test func aWorkerThatFailsEveryTaskTripsItsBreakerAndRecoversThroughAHalfOpenProbe() async throws {
            let cluster = try ClusterProcesses(settings: Self.fastBreaker)
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])

            let failures = try await client.run((0..<10).map { TaskRequest(taskID: "f-\($0)", kind: "fail", text: "system") })
            #expect(failures.allSatisfy { if case .failure(let error) = $0.result { error.failureClass == .system } else { false } })
            #expect(try await client.status().workers.first?.breaker == "open")

            // While open nothing is dispatched; after breaker.open_ms one probe goes out, succeeds, and closes it.
            try await client.submit([TaskRequest(taskID: "probe", kind: "echo", text: "ok")])
            #expect(try await client.status().tasksQueued == 1, "no dispatch while the breaker is open")
            #expect(await client.outcome(of: "probe").outputText == "ok")
            try await eventually("the breaker closes after the probe") { try await client.status().workers.first?.breaker == "closed" }
            await client.close()
        }

        @Test func anAdminForcesABreakerOpenAndClosedFromTheCommandLine() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1", "w2"])

            let opened = try ClusterProcesses.runToCompletion(["breaker", "open", "w1"] + cluster.clientArguments)
            #expect(opened.status == 0 && opened.stdout.contains("w1: forced_open") && opened.stdout.contains("w2: closed"), "\(opened)")
            let outcomes = try await client.run((0..<50).map { TaskRequest(taskID: "t-\($0)", kind: "echo", text: "x") })
            #expect(outcomes.allSatisfy { $0.worker == "w2" }, "no task goes to a forced-open worker")

            let denied = try ClusterProcesses.runToCompletion(["breaker", "close", "w1"] + cluster.clientArguments + ["--name", "client"])
            #expect(denied.status == 1 && denied.stderr.contains("PERMISSION_DENIED"), "\(denied)")
            let unknown = try ClusterProcesses.runToCompletion(["breaker", "open", "w9"] + cluster.clientArguments)
            #expect(unknown.status == 1 && unknown.stderr.contains("w9"), "\(unknown)")

            let closed = try ClusterProcesses.runToCompletion(["breaker", "close", "w1", "--json"] + cluster.clientArguments)
            #expect(closed.status == 0 && closed.stdout.contains(#"{"state":"closed","worker":"w1"}"#), "\(closed)")
            let listed = try ClusterProcesses.runToCompletion(["breaker", "list"] + cluster.clientArguments)
            #expect(listed.stdout == "w1: closed\nw2: closed\n", "\(listed)")
            await client.close()
        }
    }
}
