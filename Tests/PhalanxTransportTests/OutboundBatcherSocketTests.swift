import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PhalanxTransport
import Testing

/// The outbound batcher on a real loopback TCP connection, written from many threads at once and
/// from the channel's own loop: every message arrives, each writer's in its order, and a close
/// right after the last write loses none of them.
@Suite(.timeLimit(.minutes(1))) struct OutboundBatcherSocketTests {
    /// Encodes each message as one line.
    final class LineEncoder: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = String
        typealias OutboundOut = ByteBuffer

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let line = unwrapOutboundIn(data) + "\n"
            context.write(wrapOutboundOut(context.channel.allocator.buffer(string: line)), promise: promise)
        }
    }

    /// Collects the lines the server receives until the client closes.
    final class LineCollector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        private let state = NIOLockedValueBox((pending: "", lines: [String]()))
        let closed: EventLoopPromise<[String]>

        init(closed: EventLoopPromise<[String]>) { self.closed = closed }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            state.withLockedValue { state in
                state.pending += text
                while let newline = state.pending.firstIndex(of: "\n") {
                    state.lines.append(String(state.pending[..<newline]))
                    state.pending = String(state.pending[state.pending.index(after: newline)...])
                }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.succeed(state.withLockedValue { $0.lines })
        }
    }

    @Test func messagesFromManyThreadsAndTheLoopAllArriveInEachWritersOrderAndCloseLosesNone() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let received = group.next().makePromise(of: [String].self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LineCollector(closed: received)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(LineEncoder()) }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        let batcher = OutboundBatcher<String>(channel: client)

        let writers = 4
        let perWriter = 500
        await withTaskGroup(of: Void.self) { tasks in
            for writer in 0..<writers {
                tasks.addTask {
                    for index in 0..<perWriter {
                        if index % 3 == 0 { batcher.send("w\(writer)-\(index)") } else { batcher.write("w\(writer)-\(index)") }
                        if index % 50 == 0 { await Task.yield() }
                    }
                }
            }
            tasks.addTask {
                // Writes from the channel's own loop, interleaved with the others.
                for index in 0..<perWriter {
                    try? await client.eventLoop.submit { batcher.send("loop-\(index)") }.get()
                }
            }
        }
        batcher.write("last")  // not flushed: the close must flush it
        await batcher.close()

        let lines = try await received.futureResult.get()
        #expect(lines.count == (writers + 1) * perWriter + 1, "every message arrived")
        #expect(lines.last == "last")
        for writer in ["w0", "w1", "w2", "w3", "loop"] {
            let own = lines.filter { $0.hasPrefix(writer + "-") }.map { Int($0.dropFirst(writer.count + 1))! }
            #expect(own == Array(0..<perWriter), "\(writer)'s messages in the order written")
        }
    }
}
