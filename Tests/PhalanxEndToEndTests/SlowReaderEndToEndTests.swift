import Foundation
import PhalanxClient
import PhalanxTesting
import Testing

extension EndToEnd {
    /// A client that stops reading cannot grow the coordinator's memory or slow other clients down.
    @Suite(.timeLimit(.minutes(1))) struct SlowReaderEndToEndTests {
        @Test func aClientThatStopsReadingIsCutOffWhileMemoryStaysBoundedAndOthersAreServed() async throws {
            let cluster = try ClusterProcesses(settings: [
                "limits.send_buffer_bytes=1048576", "limits.slow_reader_timeout_ms=1000", "limits.client_inflight_bytes=4194304",
            ])
            defer { cluster.stopAll() }
            let good = try await cluster.startWithWorkers(["w1"], capacity: 64)
            let baseline = try #require(cluster.residentBytes("coordinator"))

            // 96 MB of echo tasks from a peer that reads nothing: unbounded, its results would pile up in the coordinator.
            let reader = try await cluster.rawPeer()
            try await reader.stopReading()
            let payload = [UInt8](repeating: 0x5a, count: 40_000)
            for batch in 0..<240 {
                try await reader.submit(
                    requestID: UInt64(batch + 1), (0..<10).map { (id: "flood-\(batch)-\($0)", kind: "echo", payload: payload) }, waitForWrite: false)
            }

            // Meanwhile another client of the same certificate is served as usual.
            let outcomes = try await good.run((0..<100).map { TaskRequest(taskID: "good-\($0)", kind: "echo", text: "\($0)") })
            #expect(outcomes.enumerated().allSatisfy { $0.element.outputText == "\($0.offset)" })

            try await eventually("the coordinator cuts the slow reader off") {
                cluster.log("coordinator").contains("cutting off a client that does not read its results")
            }
            try await eventually("only the good client is left") { try await good.status().clients == 1 }
            let after = try #require(cluster.residentBytes("coordinator"))
            let growth = after - baseline  // malloc keeps what it took, so this is close to the peak
            #expect(growth < 64 * 1_048_576, "coordinator RSS grew by \(growth / 1_048_576) MiB (from \(baseline / 1_048_576) MiB)")
            #expect(try await good.run([TaskRequest(taskID: "after", kind: "echo", text: "still served")])[0].outputText == "still served")
            await good.close()
        }
    }
}
