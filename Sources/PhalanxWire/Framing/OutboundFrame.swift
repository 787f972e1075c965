import NIOCore

/// What a connection writes: an Envelope that ``FrameEncoder`` serializes, or a frame built
/// earlier from bytes serialized earlier.
///
/// The coordinator serializes each finished task's result once, for its ledger, and sends the
/// client those same bytes (``ResultsFrame``) instead of serializing the result a second time.
public enum OutboundFrame: Sendable {
    case envelope(Phalanx_V1_Envelope)
    /// A complete frame: the 4-byte length, then a serialized Envelope.
    case framed(ByteBuffer)
}

/// A `results` frame built from results that are serialized already: its body is the bytes
/// `Phalanx_V1_Envelope.results(batch)` serializes to (field 5, a ResultBatch whose field 1 holds
/// each TaskResult), so the receiver decodes it as any other result batch.
public enum ResultsFrame {
    /// The bytes one result adds to a frame's body at most, on top of its own: its field tag and
    /// length in the batch (1 + up to 5 bytes). The batch's own tag and length are within
    /// ``FrameBudget/envelopeOverheadBytes``.
    public static let perResultOverheadBytes = 6

    /// The frame carrying `results` (each a serialized `Phalanx_V1_TaskResult`): length, then body.
    public static func frame(_ results: [[UInt8]], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let batchBytes = results.reduce(0) { $0 + 1 + varintBytes(UInt64($1.count)) + $1.count }
        let bodyBytes = 1 + varintBytes(UInt64(batchBytes)) + batchBytes
        var buffer = allocator.buffer(capacity: FrameParser.headerBytes + bodyBytes)
        buffer.writeInteger(UInt32(bodyBytes))
        buffer.writeInteger(UInt8(5 << 3 | 2))  // Envelope.results, length-delimited
        writeVarint(UInt64(batchBytes), to: &buffer)
        for result in results {
            buffer.writeInteger(UInt8(1 << 3 | 2))  // ResultBatch.results, length-delimited
            writeVarint(UInt64(result.count), to: &buffer)
            buffer.writeBytes(result)
        }
        return buffer
    }

    private static func varintBytes(_ value: UInt64) -> Int {
        var value = value
        var count = 1
        while value >= 0x80 {
            value >>= 7
            count += 1
        }
        return count
    }

    private static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }
}
