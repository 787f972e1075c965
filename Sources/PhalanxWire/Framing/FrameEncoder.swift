import NIOCore
import SwiftProtobuf

/// Writes each outbound Envelope as one frame: the 4-byte big-endian length and the body in a
/// single buffer (one write per frame, not two as NIOExtras' `LengthFieldPrepender` does; the
/// per-frame pipeline work is what costs on a hot connection). A frame built earlier
/// (``OutboundFrame/framed(_:)``) passes as it is.
public final class FrameEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = OutboundFrame
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        do {
            let frame: ByteBuffer
            switch unwrapOutboundIn(data) {
            case .envelope(let envelope):
                frame = try Self.frame(envelope, allocator: context.channel.allocator)
            case .framed(let built):
                frame = built
            }
            context.write(wrapOutboundOut(frame), promise: promise)
        } catch {
            promise?.fail(error)
        }
    }

    /// The frame bytes for `envelope`.
    public static func frame(_ envelope: Phalanx_V1_Envelope, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        frame(body: try envelope.serializedBytes(), allocator: allocator)
    }

    /// The frame for an envelope already serialized (`body`): its length, then the bytes.
    public static func frame(body: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: FrameParser.headerBytes + body.count)
        buffer.writeInteger(UInt32(body.count))
        buffer.writeBytes(body)
        return buffer
    }
}
