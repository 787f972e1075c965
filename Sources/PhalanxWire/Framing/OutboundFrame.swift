import NIOCore

/// What a connection writes: an Envelope that ``FrameEncoder`` serializes, or a frame built
/// earlier from bytes serialized earlier.
///
/// The coordinator serializes each finished task's result once, for its ledger, and sends the
/// client those same bytes (``BatchFrame/results(_:allocator:)``) instead of serializing the result a second time.
public enum OutboundFrame: Sendable {
    case envelope(Phalanx_V1_Envelope)
    /// A complete frame: the 4-byte length, then a serialized Envelope.
    case framed(ByteBuffer)
}
