import Logging
import PhalanxClient
import Foundation
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import PhalanxWire
import Testing

/// The client measures a transaction request on the bytes it sends: one whose frame's declared
/// length (the serialized envelope, what the receiver checks) is exactly the coordinator's limit
/// goes out and reaches the coordinator, one byte more is refused by the client with
/// INVALID_ARGUMENT before anything is sent.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ClientFrameLimitTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Operations on w1: a put of `bytes` bytes under `a` and one of 30,000 under `b` (a value alone
    /// is at most 64 KiB, the coordinator's frames here too).
    func operations(_ bytes: Int) -> [ParticipantOperations] {
        [ParticipantOperations(participant: "w1", operations: [
            .put(key: "a", value: .bytes(Array(repeating: 1, count: bytes))), .put(key: "b", value: .bytes(Array(repeating: 2, count: 30_000))),
        ])]
    }

    /// The declared length of the frame the client sends for `participants` (its ids and trace
    /// have fixed lengths).
    func frameBytes(_ participants: [ParticipantOperations]) throws -> Int {
        var request = Phalanx_V1_TxRequest()
        request.requestID = 1
        request.txID = String(repeating: "0", count: 16) + "-" + String(repeating: "0", count: 16)  // the length of a client-made id
        request.freshID = true
        request.participants = participants.map(\.wire)
        let trace = TraceContext.newTrace()
        request.trace.traceID = trace.traceID
        request.trace.spanID = trace.spanID
        return try (Phalanx_V1_Envelope(.txRequest(request)).serializedBytes() as [UInt8]).count
    }

    @Test func aRequestAtTheFrameLimitIsSentAndOneByteMoreIsRefusedByTheClient() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let limit = coordinator.limits.maximumFrameBytes
            let atLimit = 30_000 + (limit - (try frameBytes(operations(30_000))))
            #expect(try frameBytes(operations(atLimit)) == limit)
            let client = try await PhalanxClient.connect(
                host: "127.0.0.1", port: coordinator.port, tls: TestCertificates.files("client"), limits: coordinator.limits, logger: quiet)
            // No worker is registered: the coordinator got it when it answers that w1 is not.
            let sent = try await client.transact(operations(atLimit))
            #expect(!sent.committed)
            #expect(sent.reason?.code == .unavailable, "\(String(describing: sent.reason))")
            #expect(sent.reason?.originNode == "coordinator", "\(String(describing: sent.reason))")
            var refusal: ErrorContext?
            do {
                _ = try await client.transact(operations(atLimit + 1))
            } catch let error as ErrorContext {
                refusal = error
            }
            let error = try #require(refusal)
            #expect(error.code == .invalidArgument)
            #expect(error.originNode == "client")
            #expect(error.message.contains("the request is \(limit + 1) bytes, more than the coordinator's frame limit of \(limit) bytes"), "\(error.message)")
            let after = try await client.transact(operations(10))
            #expect(after.reason?.code == .unavailable, "the connection is still usable: \(String(describing: after.reason))")
            await client.close()
        }
    }
}
