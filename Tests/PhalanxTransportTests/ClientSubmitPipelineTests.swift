import Logging
import PhalanxClient
import PhalanxCluster
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import Testing

/// The client keeps several submit frames in flight. A refusal of one frame in the middle leaves
/// the frames before and after it accepted, and the error says exactly how many were.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ClientSubmitPipelineTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test func aFrameRefusedInTheMiddleOfAPipelinedSubmitLeavesTheOthersAcceptedAndCounted() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let client = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("client"), limits: coordinator.limits, logger: quiet)
            // No worker: every accepted task stays queued, so "dup" is still unfinished below.
            try await client.submit([TaskRequest(taskID: "dup", kind: "echo", text: "first")])
            let ids = (0..<3_000).map { $0 == 1_500 ? "dup" : "t\($0)" }
            var refusal: ErrorContext?
            do {
                try await client.submit(ids.map { TaskRequest(taskID: $0, kind: "echo", text: "x") })
            } catch let error as ErrorContext {
                refusal = error
            }
            let error = try #require(refusal)
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("'dup' is already queued or running"))
            let accepted = try #require(Int(error.message.prefix { $0.isNumber }))
            #expect(error.message.hasPrefix("\(accepted) of 3000 tasks were accepted (and will run)"))

            let lookup = try await client.attach(ids.filter { $0 != "dup" })
            #expect(lookup.pending.count == accepted)  // exactly the tasks the message counts
            #expect(accepted > 1_500 && accepted < 2_999)  // frames after the refused one were accepted too
            await client.close()
        }
    }
}
