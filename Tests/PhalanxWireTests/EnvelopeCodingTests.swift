import NIOCore
import PhalanxCore
import PhalanxResilience
import Testing

@testable import PhalanxWire

@Suite struct EnvelopeCodingTests {
    @Test func anEnvelopeRoundTripsThroughAFrame() throws {
        var spec = Phalanx_V1_TaskSpec()
        spec.taskID = "t1"
        spec.kind = "echo"
        spec.payload = .init([1, 2, 3])
        var batch = Phalanx_V1_SubmitBatch()
        batch.requestID = 7
        batch.tasks = [spec]
        var envelope = Phalanx_V1_Envelope()
        envelope.body = .submit(batch)
        var frame = try FrameEncoder.frame(envelope, allocator: ByteBufferAllocator())
        #expect(frame.readInteger(as: UInt32.self) == UInt32(frame.readableBytes))
        let decoded = try Phalanx_V1_Envelope.decode(frame: frame)
        #expect(decoded == envelope)
        #expect(decoded.kind == .submit)
    }

    @Test func garbageAndEmptyEnvelopesAreMalformed() {
        #expect(throws: FrameError.self) { try Phalanx_V1_Envelope.decode(frame: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF])) }
        // A valid protobuf message with only an unknown field (100): no body we know.
        #expect(throws: FrameError.self) { try Phalanx_V1_Envelope.decode(frame: ByteBuffer(bytes: [0xA0, 0x06, 0x01])) }
    }

    @Test func errorContextCrossesTheWireWithItsCauses() {
        let cause = ErrorContext(code: .unavailable, message: "db down", originNode: "w2", taskID: "t9", attempt: 2)
        let context = cause.wrapped(in: .internal, "transfer failed")
        let back = ErrorContext(wire: context.wire)
        #expect(back == context)
        #expect(back.causes.first?.originNode == "w2")
    }

    @Test func everyCodeHasADistinctWireValue() {
        let wires = ErrorCode.allCases.map(\.wire)
        #expect(Set(wires).count == ErrorCode.allCases.count)
        for code in ErrorCode.allCases { #expect(ErrorCode(wire: code.wire) == code) }
        #expect(ErrorCode(wire: .unspecified) == .internal)
    }

    @Test func helloCarriesTheIdentity() {
        let local = NodeIdentity(cluster: "demo", role: .worker, name: "w1")
        guard case .hello(let hello) = Phalanx_V1_Envelope.hello(from: local, maximumFrameBytes: 65_536).body else {
            Issue.record("not a hello")
            return
        }
        #expect(hello.fields == HelloFields(protocolVersion: ProtocolVersion.current, cluster: "demo", role: .worker, node: "w1", maximumFrameBytes: 65_536))
    }
}
