import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import PhalanxWire

/// A results frame built from serialized results must be the very bytes the encoder would make
/// from the messages, so that a client decodes it as any other result batch.
@Suite struct ResultsFrameTests {
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
        let built = ResultsFrame.frame(serialized)
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
        let budgeted = serialized.reduce(0) { $0 + $1.count + ResultsFrame.perResultOverheadBytes }
        #expect(built.readableBytes - FrameParser.headerBytes <= budgeted + 6)
    }

    @Test func theEncoderPassesABuiltFrameOnAsItIs() throws {
        let channel = EmbeddedChannel(handler: FrameEncoder())
        let built = ResultsFrame.frame([try Self.result("t1", outputBytes: 3).serializedBytes()])
        try channel.writeOutbound(OutboundFrame.framed(built))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == built)
        try channel.writeOutbound(OutboundFrame.envelope(.results([Self.result("t2", outputBytes: 1)])))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == FrameEncoder.frame(.results([Self.result("t2", outputBytes: 1)]), allocator: ByteBufferAllocator()))
        _ = try channel.finish()
    }
}
