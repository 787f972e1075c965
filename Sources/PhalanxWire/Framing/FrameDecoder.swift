import NIOCore

/// Reads frames off a connection and passes each body on; enforces the size limit and the
/// frame-completion deadline.
///
/// Once a frame has started (any byte of it has arrived), the whole frame must arrive within
/// `frameCompletionTimeout`, so a peer trickling bytes cannot hold the connection (NIO's idle
/// handler resets on every byte, so it cannot catch this). Any violation is fired as a
/// ``FrameError`` through `errorCaught`, and nothing more is decoded from that connection.
public final class FrameDecoder: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private var parser: FrameParser
    private let frameCompletionTimeout: TimeAmount
    private var completionDeadline: Scheduled<Void>?
    private var failed = false

    public init(maximumFrameBytes: Int, frameCompletionTimeout: TimeAmount) {
        self.parser = FrameParser(maximumFrameBytes: maximumFrameBytes)
        self.frameCompletionTimeout = frameCompletionTimeout
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        parser.append(unwrapInboundIn(data))
        do {
            while let frame = try parser.nextFrame() {
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            fail(context: context, error)
            return
        }
        updateCompletionDeadline(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        completionDeadline?.cancel()
        completionDeadline = nil
        if !failed {
            do { try parser.finish() } catch { fail(context: context, error) }
        }
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        completionDeadline?.cancel()
        completionDeadline = nil
    }

    private func updateCompletionDeadline(context: ChannelHandlerContext) {
        if parser.bufferedBytes == 0 {
            completionDeadline?.cancel()
            completionDeadline = nil
        } else if completionDeadline == nil {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            completionDeadline = context.eventLoop.scheduleTask(in: frameCompletionTimeout) {
                let handler = loopBound.value
                handler.completionDeadline = nil
                guard !handler.failed, handler.parser.bufferedBytes > 0 else { return }
                let declared = handler.parser.partialFrameLength ?? 0
                handler.fail(
                    context: contextBound.value,
                    .incompleteInTime(received: max(0, handler.parser.bufferedBytes - FrameParser.headerBytes), declared: declared))
            }
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: FrameError) {
        failed = true
        completionDeadline?.cancel()
        completionDeadline = nil
        context.fireErrorCaught(error)
    }
}
