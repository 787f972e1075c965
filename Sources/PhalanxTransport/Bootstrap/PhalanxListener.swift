import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PhalanxCore
import PhalanxResilience
#if canImport(Glibc)
import Glibc
#endif

/// The coordinator's listening socket: mutual TLS on every accepted connection.
public enum PhalanxListener {
    /// Binds `host:port` (port 0 picks a free one) and yields each accepted connection; take each
    /// one to serve it (one never taken is closed when released).
    public static func bind(
        host: String,
        port: Int,
        tlsContext: NIOSSLContext,
        local: NodeIdentity,
        limits: ConnectionLimits,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handshakeFailures: HandshakeFailureMetrics? = nil
    ) async throws -> NIOAsyncChannel<AcceptedConnection, Never> {
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: limits.sendBufferBytes / 2, high: limits.sendBufferBytes))
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        AcceptedConnection(
                            try PipelineSetup.configure(
                                channel: channel, tlsHandler: NIOSSLServerHandler(context: tlsContext),
                                side: .coordinator, local: local, limits: limits, logger: logger, handshakeFailures: handshakeFailures))
                    }
                }
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ErrorContext(
                code: .unavailable, message: "cannot listen on \(host):\(port): the port is in use; stop the other process or set coordinator.port",
                originNode: local.name)
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL || error.errnoCode == EACCES {
            throw ErrorContext(
                code: .unavailable, message: "cannot listen on \(host):\(port): \(error); is the address one of this machine's, and the port allowed?",
                originNode: local.name)
        } catch {
            throw ErrorContext(
                code: .invalidArgument,
                message: "cannot listen on \(host):\(port): \(error); coordinator.host must be an IP address or a name this machine resolves (e.g. 127.0.0.1)",
                originNode: local.name)
        }
    }
}
