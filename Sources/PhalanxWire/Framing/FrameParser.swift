import NIOCore

/// Splits a byte stream into frames: a 4-byte big-endian length N, then N bytes.
///
/// Pure and synchronous: feed it bytes with ``append(_:)``, take frames with ``nextFrame()``.
/// The declared length is checked against the maximum as soon as the 4 length bytes are there,
/// so an oversized frame is refused before any of its body is buffered.
public struct FrameParser: Sendable {
    /// The size of the length prefix.
    public static let headerBytes = 4

    /// The largest body a frame may declare.
    public let maximumFrameBytes: Int
    private var buffer: ByteBuffer?

    public init(maximumFrameBytes: Int) {
        precondition(maximumFrameBytes > 0 && maximumFrameBytes <= Int(UInt32.max), "the frame maximum must fit a 4-byte length")
        self.maximumFrameBytes = maximumFrameBytes
    }

    /// Adds bytes read from the peer.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil {
            buffer = bytes
        } else {
            var incoming = bytes
            buffer!.writeBuffer(&incoming)
        }
    }

    /// The next complete frame's body, or nil if more bytes are needed.
    public mutating func nextFrame() throws(FrameError) -> ByteBuffer? {
        guard var current = buffer, let length = current.getInteger(at: current.readerIndex, as: UInt32.self) else {
            return nil
        }
        guard length <= maximumFrameBytes else { throw .tooLarge(declared: length, maximum: maximumFrameBytes) }
        guard length > 0 else { throw .empty }
        guard current.readableBytes >= Self.headerBytes + Int(length) else { return nil }
        current.moveReaderIndex(forwardBy: Self.headerBytes)
        let frame = current.readSlice(length: Int(length))!
        buffer = current.readableBytes == 0 ? nil : current
        if let remaining = buffer, remaining.readerIndex > 64 * 1024 {
            var compacted = remaining
            compacted.discardReadBytes()
            buffer = compacted
        }
        return frame
    }

    /// Bytes held that do not yet make a whole frame (0 between frames).
    public var bufferedBytes: Int { buffer?.readableBytes ?? 0 }

    /// The declared body length of the partial frame held, if its header has arrived.
    public var partialFrameLength: Int? {
        guard let buffer, let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        return Int(length)
    }

    /// Called at end of stream: fails if a frame was cut short.
    public func finish() throws(FrameError) {
        let held = bufferedBytes
        guard held > 0 else { return }
        let expected = Self.headerBytes + (partialFrameLength ?? 0)
        throw .truncated(missing: max(expected - held, Self.headerBytes - held))
    }
}
