import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PhalanxCore
import PhalanxResilience

/// The coordinator's listening socket: mutual TLS on every accepted connection.
public enum PhalanxListener {
    /// Binds `host:port` (port 0 picks a free one) and yields each accepted connection.
    public static func bind(
        host: String,
        port: Int,
        tlsContext: NIOSSLContext,
        local: NodeIdentity,
        limits: ConnectionLimits,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NIOAsyncChannel<PeerChannel, Never> {
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try PipelineSetup.configure(
                            channel: channel, tlsHandler: NIOSSLServerHandler(context: tlsContext),
                            side: .coordinator, local: local, limits: limits, logger: logger)
                    }
                }
        } catch {
            throw ErrorContext(code: .unavailable, message: "cannot listen on \(host):\(port): \(error); is the port in use?")
        }
    }
}
