import NIOCore
import Testing

@testable import PhalanxWire

@Suite struct FrameParserTests {
    static func frame(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(body.count))
        buffer.writeBytes(body)
        return buffer
    }

    @Test func severalFramesInOneRead() throws {
        var parser = FrameParser(maximumFrameBytes: 1_024)
        var bytes = Self.frame([1, 2, 3])
        var second = Self.frame([4])
        bytes.writeBuffer(&second)
        parser.append(bytes)
        #expect(try parser.nextFrame().map { Array($0.readableBytesView) } == [1, 2, 3])
        #expect(try parser.nextFrame().map { Array($0.readableBytesView) } == [4])
        #expect(try parser.nextFrame() == nil)
        #expect(parser.bufferedBytes == 0)
    }

    @Test func aFrameSplitByteByByte() throws {
        var parser = FrameParser(maximumFrameBytes: 1_024)
        let bytes = Array(Self.frame(Array(0..<100)).readableBytesView)
        var frames: [[UInt8]] = []
        for byte in bytes {
            parser.append(ByteBuffer(bytes: [byte]))
            while let frame = try parser.nextFrame() { frames.append(Array(frame.readableBytesView)) }
        }
        #expect(frames == [Array(0..<100)])
    }

    @Test func anOversizedLengthIsRefusedFromTheHeaderAlone() {
        var parser = FrameParser(maximumFrameBytes: 4 * 1024 * 1024)
        var header = ByteBuffer()
        header.writeInteger(UInt32(16 * 1024 * 1024))
        parser.append(header)  // no body at all: the refusal cannot depend on buffering it
        #expect(throws: FrameError.tooLarge(declared: 16 * 1024 * 1024, maximum: 4 * 1024 * 1024)) { try parser.nextFrame() }
        var huge = FrameParser(maximumFrameBytes: 4 * 1024 * 1024)
        huge.append(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(throws: FrameError.self) { try huge.nextFrame() }
    }

    @Test func aZeroLengthFrameIsMalformed() {
        var parser = FrameParser(maximumFrameBytes: 16)
        parser.append(ByteBuffer(bytes: [0, 0, 0, 0]))
        #expect(throws: FrameError.empty) { try parser.nextFrame() }
    }

    @Test func aTruncatedFrameAtEndOfStreamIsReported() throws {
        var parser = FrameParser(maximumFrameBytes: 1_024)
        parser.append(ByteBuffer(bytes: [0, 0, 0, 10, 1, 2, 3]))
        #expect(try parser.nextFrame() == nil)
        #expect(throws: FrameError.truncated(missing: 7)) { try parser.finish() }
        var headerOnly = FrameParser(maximumFrameBytes: 1_024)
        headerOnly.append(ByteBuffer(bytes: [0, 0]))
        #expect(throws: FrameError.self) { try headerOnly.finish() }
    }

    @Test func errorsMapToWireCodes() {
        #expect(FrameError.tooLarge(declared: 9, maximum: 8).errorContext.code == .frameTooLarge)
        #expect(FrameError.undecodable("x").errorContext.code == .malformedFrame)
        #expect(FrameError.incompleteInTime(received: 1, declared: 9).errorContext.code == .malformedFrame)
    }
}
