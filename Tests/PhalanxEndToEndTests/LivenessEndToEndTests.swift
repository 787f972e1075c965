import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import PhalanxWire
import Testing

extension EndToEnd {
    /// Connections stay up while work is outstanding, however long it runs; idle ones are told why they close.
    @Suite(.timeLimit(.minutes(1))) struct LivenessEndToEndTests {
        /// Every process runs with a 600 ms idle timeout; tasks run three times as long.
        static let shortIdle = ["limits.idle_timeout_ms=600"]

        @Test func aTaskThreeTimesLongerThanTheIdleTimeoutFinishesOnceOnItsFirstAttempt() async throws {
            let cluster = try ClusterProcesses(settings: Self.shortIdle)
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])

            let outcome = try await client.run([TaskRequest(taskID: "long", kind: "sleep", text: "1800")])[0]
            #expect(outcome.outputText == "1800" && outcome.attempt == 1 && outcome.worker == "w1", "\(outcome.result)")
            #expect(await client.resultsReceived == 1)
            #expect(!cluster.log("coordinator").contains("declared dead") && !cluster.log("w1").contains("reconnecting"))
            await client.close()
        }

        @Test func aQuietClientWithATaskOutstandingIsNotDroppedButAnIdleOneIsToldWhy() async throws {
            let cluster = try ClusterProcesses(settings: Self.shortIdle)
            defer { cluster.stopAll() }
            let admin = try await cluster.startWithWorkers(["w1"], client: "admin")

            // A raw peer sends no keep-alive: the task it waits for keeps it connected.
            let waiting = try await cluster.rawPeer()
            try await waiting.submit(requestID: 1, [(id: "quiet", kind: "sleep", payload: Array("1800".utf8))])
            #expect(await waiting.acknowledgement(of: 1)?.accepted == 1)
            try await eventually("the result reaches the quiet client", within: .seconds(5)) { !waiting.results.isEmpty }
            #expect(waiting.results.first?.output == Data("1800".utf8))
            #expect(waiting.firstError == nil, "no Error frame while its task ran: \(String(describing: waiting.firstError))")

            // With nothing outstanding and nothing sent, the coordinator closes it with an Error frame that says why.
            #expect(await waiting.closes(within: .seconds(3)))
            let error = try #require(waiting.firstError)
            #expect(error.code == .unavailable && error.message.contains("limits.idle_timeout_ms"), "\(error.message)")
            #expect(error.originNode == "coordinator")
            await admin.close()
        }
    }
}
