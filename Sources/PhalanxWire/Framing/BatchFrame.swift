import NIOCore
import SwiftProtobuf

/// Frames for the batches of the hot paths (submit, dispatch, results), built from messages
/// serialized one by one: the body is the very bytes the encoder would make of the Envelope
/// (field by field, in field order), so the receiver decodes it as any other batch.
///
/// Why: SwiftProtobuf computes a nested message's size once for every level above it, so an
/// Envelope holding a batch of tasks sizes each task three times before writing it. Serialized
/// one by one, each is sized once; and the exact sizes let ``FrameBudget`` cut by real bytes.
public enum BatchFrame {
    /// The bytes one element adds to a batch at most, on top of its own: its field tag and its
    /// length (1 + up to 5 bytes). The batch's own tag and length, and its other fields, are within
    /// ``FrameBudget/envelopeOverheadBytes``.
    public static let perElementOverheadBytes = 6

    /// The bytes a submit frame's own fields take at most besides its tasks: its request id (a tag
    /// and up to 10 bytes) and its trace (a tag, a length and the two ids with theirs, 54 bytes).
    /// A client cuts its tasks to the coordinator's frame limit less this (and
    /// ``FrameBudget/envelopeOverheadBytes``).
    public static let submitFieldsBytes = 11 + 54

    /// A `results` frame (Envelope field 5, a ResultBatch whose field 1 holds each serialized
    /// `Phalanx_V1_TaskResult`).
    public static func results(_ results: [[UInt8]], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        frame(envelopeField: 5, elementField: 1, elements: results, allocator: allocator)
    }

    /// A `dispatch` frame (Envelope field 8, a DispatchBatch whose field 1 holds each serialized
    /// `Phalanx_V1_Assignment`).
    public static func dispatch(_ assignments: [[UInt8]], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        frame(envelopeField: 8, elementField: 1, elements: assignments, allocator: allocator)
    }

    /// A `submit` frame (Envelope field 3, a SubmitBatch: its request id, field 2 holding each
    /// serialized `Phalanx_V1_TaskSpec`, its trace).
    public static func submit(
        requestID: UInt64, tasks: [[UInt8]], trace: Phalanx_V1_TraceContext, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        var head = Phalanx_V1_SubmitBatch()
        head.requestID = requestID
        var tail = Phalanx_V1_SubmitBatch()
        tail.trace = trace
        return frame(envelopeField: 3, elementField: 2, elements: tasks, head: serialized(head), tail: serialized(tail), allocator: allocator)
    }

    /// The frame (4-byte length, then the Envelope) whose body is field `envelopeField`: a message
    /// made of `head` (its fields numbered below `elementField`), each element as field
    /// `elementField`, and `tail` (its fields numbered above). Field numbers below 16 (one-byte tags).
    static func frame(
        envelopeField: Int, elementField: Int, elements: [[UInt8]], head: [UInt8] = [], tail: [UInt8] = [], allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        precondition(envelopeField < 16 && elementField < 16, "one-byte field tags only")
        let batchBytes = elements.reduce(head.count + tail.count) { $0 + 1 + varintBytes(UInt64($1.count)) + $1.count }
        let bodyBytes = 1 + varintBytes(UInt64(batchBytes)) + batchBytes
        var buffer = allocator.buffer(capacity: FrameParser.headerBytes + bodyBytes)
        buffer.writeInteger(UInt32(bodyBytes))
        buffer.writeInteger(UInt8(envelopeField << 3 | 2))  // length-delimited
        writeVarint(UInt64(batchBytes), to: &buffer)
        buffer.writeBytes(head)
        let elementTag = UInt8(elementField << 3 | 2)
        for element in elements {
            buffer.writeInteger(elementTag)
            writeVarint(UInt64(element.count), to: &buffer)
            buffer.writeBytes(element)
        }
        buffer.writeBytes(tail)
        return buffer
    }

    /// `message` serialized (proto3 messages without required fields always serialize).
    public static func serialized(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        (try? message.serializedBytes()) ?? []
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
