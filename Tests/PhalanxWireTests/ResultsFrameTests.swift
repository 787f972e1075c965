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

    // Output sizes around the varint steps of the result's and the batch's length (127/128, 16383/16384).
    @Test(arguments: [[0], [1], [100], [115, 116, 117, 118], [16_350, 16_380], [20_000], [0, 3, 200_000]])
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
        // What the frame budget counts per result covers what the frame spends on it.
        let budgeted = serialized.reduce(0) { $0 + $1.count + ResultsFrame.perResultOverheadBytes }
        #expect(built.readableBytes - FrameParser.headerBytes <= budgeted + FrameBudget.envelopeOverheadBytes)
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
