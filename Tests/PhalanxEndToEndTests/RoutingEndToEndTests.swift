import Foundation
import PhalanxClient
import PhalanxResilience
import PhalanxTesting
import Testing

extension EndToEnd {
    /// Results go to the connection that submitted the task, not to the certificate's name.
    @Suite(.timeLimit(.minutes(1))) struct RoutingEndToEndTests {
        @Test func twoClientsWithOneCertificateEachGetExactlyTheirOwnResultsAndClosingOneLeavesTheOtherServed() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            try await cluster.startCoordinator()
            try cluster.startWorker("w1")
            let first = try await cluster.client()
            let second = try await cluster.client()
            try await cluster.waitForWorkers(1, using: first)

            async let firstOutcomes = first.run((0..<1_000).map { TaskRequest(taskID: "a-\($0)", kind: "echo", text: "first-\($0)") })
            async let secondOutcomes = second.run((0..<1_000).map { TaskRequest(taskID: "b-\($0)", kind: "echo", text: "second-\($0)") })
            let (fromFirst, fromSecond) = try await (firstOutcomes, secondOutcomes)
            #expect(fromFirst.enumerated().allSatisfy { $0.element.outputText == "first-\($0.offset)" })
            #expect(fromSecond.enumerated().allSatisfy { $0.element.outputText == "second-\($0.offset)" })
            let (receivedByFirst, receivedBySecond) = (await first.resultsReceived, await second.resultsReceived)
            #expect(receivedByFirst == 1_000 && receivedBySecond == 1_000, "each connection gets exactly its own results")

            // The first connection closes while both have tasks running: the second still gets all of its own.
            try await first.submit((0..<5).map { TaskRequest(taskID: "late-a-\($0)", kind: "sleep", text: "300") })
            try await second.submit((0..<5).map { TaskRequest(taskID: "late-b-\($0)", kind: "sleep", text: "300") })
            await first.close()
            for index in 0..<5 {
                let outcome = await second.outcome(of: "late-b-\(index)")
                #expect(outcome.outputText == "300", "\(outcome.taskID): \(outcome.result)")
            }
            #expect(await second.resultsReceived == 1_005)
            await second.close()
        }

        @Test func aSecondWorkerWithALiveWorkersNameIsRefusedAndTakesOverOnlyWhenTheFirstIsGone() async throws {
            let cluster = try ClusterProcesses()
            defer { cluster.stopAll() }
            let client = try await cluster.startWithWorkers(["w1"])
            try cluster.startWorker("w1", logName: "w1-twin")
            try await eventually("the twin is refused") { cluster.log("w1-twin").contains("refused this worker") }
            #expect(cluster.log("w1-twin").contains("already registered"), "\(cluster.log("w1-twin"))")

            let outcomes = try await client.run((0..<200).map { TaskRequest(taskID: "t-\($0)", kind: "sleep", text: "5") })
            #expect(outcomes.allSatisfy { $0.outputText == "5" && $0.attempt == 1 }, "no task was redone")
            #expect(!cluster.log("coordinator").contains("declared dead"), "the first w1 was never displaced")
            #expect(try await client.status().workers.map(\.name) == ["w1"])

            cluster.kill("w1")
            try await eventually("the twin registers once the first w1 is gone", within: .seconds(15)) {
                cluster.log("w1-twin").contains("registered with")
            }
            #expect(try await client.run([TaskRequest(taskID: "after", kind: "echo", text: "twin")])[0].outputText == "twin")
            await client.close()
        }
    }
}
