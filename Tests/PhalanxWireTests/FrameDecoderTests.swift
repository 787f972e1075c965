import NIOCore
import NIOEmbedded
import PhalanxResilience
import Testing

@testable import PhalanxWire

/// Records what the decoder passes on and the errors it raises.
final class FrameRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var frames: [[UInt8]] = []
    var errors: [FrameError] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frames.append(Array(unwrapInboundIn(data).readableBytesView))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? FrameError { errors.append(error) }
    }
}

@Suite struct FrameDecoderTests {
    func makeChannel(maximum: Int = 1_024, timeout: TimeAmount = .seconds(2)) throws -> (EmbeddedChannel, FrameRecorder) {
        let recorder = FrameRecorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(FrameDecoder(maximumFrameBytes: maximum, frameCompletionTimeout: timeout))
        try channel.pipeline.syncOperations.addHandler(recorder)
        return (channel, recorder)
    }

    @Test func decodesFramesAcrossReads() throws {
        let (channel, recorder) = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 3, 7]))
        try channel.writeInbound(ByteBuffer(bytes: [8, 9, 0, 0, 0, 1, 5]))
        #expect(recorder.frames == [[7, 8, 9], [5]])
        #expect(recorder.errors.isEmpty)
    }

    @Test func refusesAnOversizedFrameAndStopsDecoding() throws {
        let (channel, recorder) = try makeChannel(maximum: 100)
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 1, 0]))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 1, 5]))
        #expect(recorder.errors == [.tooLarge(declared: 256, maximum: 100)])
        #expect(recorder.frames.isEmpty)
    }

    @Test func aStartedFrameMustCompleteWithinTheDeadlineEvenIfBytesKeepTrickling() throws {
        let (channel, recorder) = try makeChannel(timeout: .seconds(2))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 10]))
        for _ in 0..<3 {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
            try channel.writeInbound(ByteBuffer(bytes: [1]))  // one byte at a time keeps an idle timer happy
        }
        #expect(recorder.errors.isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(recorder.errors == [.incompleteInTime(received: 3, declared: 10)])
    }

    @Test func theDeadlineIsResetBetweenFrames() throws {
        let (channel, recorder) = try makeChannel(timeout: .seconds(1))
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 1]))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(900))
        try channel.writeInbound(ByteBuffer(bytes: [1]))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))  // idle between frames is not this deadline's business
        #expect(recorder.errors.isEmpty)
        #expect(recorder.frames == [[1]])
    }

    @Test func endOfStreamInsideAFrameIsReported() throws {
        let (channel, recorder) = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 5, 1]))
        channel.pipeline.fireChannelInactive()
        #expect(recorder.errors == [.truncated(missing: 4)])
    }

    @Test func randomBytesNeverCrashTheDecoder() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let (channel, recorder) = try makeChannel(maximum: 64)
            let bytes = (0..<Int.random(in: 1...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            for frame in recorder.frames { _ = try? Phalanx_V1_Envelope.decode(frame: ByteBuffer(bytes: frame)) }
            #expect(recorder.errors.count <= 1)
            _ = try? channel.finish()
        }
    }
}
