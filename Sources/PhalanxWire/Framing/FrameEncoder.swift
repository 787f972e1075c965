import NIOCore
import SwiftProtobuf

/// Writes each outbound Envelope as one frame: the 4-byte big-endian length and the body in a
/// single buffer (one write per frame, not two as NIOExtras' `LengthFieldPrepender` does; the
/// per-frame pipeline work is what costs on a hot connection).
public final class FrameEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = Phalanx_V1_Envelope
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let envelope = unwrapOutboundIn(data)
        do {
            let frame = try Self.frame(envelope, allocator: context.channel.allocator)
            context.write(wrapOutboundOut(frame), promise: promise)
        } catch {
            promise?.fail(error)
        }
    }

    /// The frame bytes for `envelope`.
    public static func frame(_ envelope: Phalanx_V1_Envelope, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let body: [UInt8] = try envelope.serializedBytes()
        var buffer = allocator.buffer(capacity: FrameParser.headerBytes + body.count)
        buffer.writeInteger(UInt32(body.count))
        buffer.writeBytes(body)
        return buffer
    }
}
