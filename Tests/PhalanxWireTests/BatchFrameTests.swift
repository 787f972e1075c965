import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import PhalanxWire

/// A batch frame built from messages serialized one by one must be the very bytes the encoder
/// would make of the Envelope, so that the receiver decodes it as any other batch.
@Suite struct BatchFrameTests {
    static func result(_ id: String, outputBytes: Int) -> Phalanx_V1_TaskResult {
        var result = Phalanx_V1_TaskResult()
        result.taskID = id
        result.attempt = 2
        result.worker = "w1"
        result.output = Data(repeating: 7, count: outputBytes)
        return result
    }

    /// The output sizes for which one result's batch is 127, 128, 16383 and 16384 bytes long, where
    /// the batch's length varint grows (the result's own length crosses the same steps nearby).
    static let varintSteps: [Int] = {
        var sizes: [Int] = []
        for target in [127, 128, 16_383, 16_384] {
            for output in max(0, target - 64)...target {
                let resultBytes = (try? result("t0", outputBytes: output).serializedBytes() as [UInt8])?.count ?? 0
                let batchBytes = 1 + (resultBytes < 128 ? 1 : resultBytes < 16_384 ? 2 : 3) + resultBytes
                if batchBytes == target {
                    sizes.append(output)
                    break
                }
            }
        }
        return sizes
    }()

    @Test func everyVarintStepIsReached() {
        #expect(Self.varintSteps.count == 4, "\(Self.varintSteps)")
    }

    @Test(arguments: [[0], [1], [100], [20_000], [0, 3, 200_000]] + varintSteps.map { [$0] } + [varintSteps])
    func isTheEncodersFrameByteForByte(outputSizes: [Int]) throws {
        let results = outputSizes.enumerated().map { Self.result("t\($0.offset)", outputBytes: $0.element) }
        let serialized = try results.map { try $0.serializedBytes() as [UInt8] }
        let built = BatchFrame.results(serialized)
        let encoded = try FrameEncoder.frame(.results(results), allocator: ByteBufferAllocator())
        #expect(built == encoded)

        var frame = built
        #expect(frame.readInteger(as: UInt32.self) == UInt32(frame.readableBytes))
        guard case .results(let batch)? = try Phalanx_V1_Envelope.decode(frame: frame).body else {
            Issue.record("not a results frame")
            return
        }
        #expect(batch.results == results)
        // What the frame budget counts per result covers what the frame spends on it; the batch's own
        // tag and length (at most 6 bytes) are within the budget's allowance per frame.
        let budgeted = serialized.reduce(0) { $0 + $1.count + BatchFrame.perElementOverheadBytes }
        #expect(built.readableBytes - FrameParser.headerBytes <= budgeted + 6)
    }

    static func spec(_ id: String, payloadBytes: Int) -> Phalanx_V1_TaskSpec {
        var spec = Phalanx_V1_TaskSpec()
        spec.taskID = id
        spec.kind = "echo"
        spec.payload = Data(repeating: 3, count: payloadBytes)
        spec.deadlineUnixMs = 1_900_000_000_000
        spec.trace.traceID = String(repeating: "a", count: 32)
        spec.trace.spanID = String(repeating: "b", count: 16)
        return spec
    }

    @Test(arguments: [[], [0], [100], [0, 3, 200_000]] + varintSteps.map { [$0] })
    func dispatchFramesAreTheEncodersByteForByte(payloadSizes: [Int]) throws {
        let assignments = payloadSizes.enumerated().map { index, size in
            var assignment = Phalanx_V1_Assignment()
            assignment.task = Self.spec("t\(index)", payloadBytes: size)
            assignment.attempt = UInt32(index + 1)
            assignment.dispatchID = UInt64(index) << 40
            return assignment
        }
        var batch = Phalanx_V1_DispatchBatch()
        batch.assignments = assignments
        let built = BatchFrame.dispatch(assignments.map(BatchFrame.serialized))
        #expect(built == (try FrameEncoder.frame(Phalanx_V1_Envelope(.dispatch(batch)), allocator: ByteBufferAllocator())))
    }

    @Test(arguments: [[], [0], [100], [0, 3, 200_000]] + varintSteps.map { [$0] })
    func submitFramesAreTheEncodersByteForByte(payloadSizes: [Int]) throws {
        var batch = Phalanx_V1_SubmitBatch()
        batch.requestID = 300  // a two-byte varint
        batch.tasks = payloadSizes.enumerated().map { Self.spec("t\($0.offset)", payloadBytes: $0.element) }
        batch.trace.traceID = String(repeating: "c", count: 32)
        batch.trace.spanID = String(repeating: "d", count: 16)
        let built = BatchFrame.submit(requestID: batch.requestID, tasks: batch.tasks.map(BatchFrame.serialized), trace: batch.trace)
        #expect(built == (try FrameEncoder.frame(Phalanx_V1_Envelope(.submit(batch)), allocator: ByteBufferAllocator())))
        guard case .submit(let decoded)? = try Phalanx_V1_Envelope.decode(frame: built.getSlice(at: 4, length: built.readableBytes - 4)!).body else {
            Issue.record("not a submit frame")
            return
        }
        #expect(decoded == batch)
    }

    @Test func theEncoderPassesABuiltFrameOnAsItIs() throws {
        let channel = EmbeddedChannel(handler: FrameEncoder())
        let built = BatchFrame.results([try Self.result("t1", outputBytes: 3).serializedBytes()])
        try channel.writeOutbound(OutboundFrame.framed(built))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == built)
        try channel.writeOutbound(OutboundFrame.envelope(.results([Self.result("t2", outputBytes: 1)])))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == FrameEncoder.frame(.results([Self.result("t2", outputBytes: 1)]), allocator: ByteBufferAllocator()))
        _ = try channel.finish()
    }
}
