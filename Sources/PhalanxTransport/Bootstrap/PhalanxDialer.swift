import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PhalanxCore
import PhalanxResilience

/// Opens a mutual-TLS connection to the coordinator and completes the Hello exchange.
public enum PhalanxDialer {
    /// Connects to `host:port` as `local`; returns once the coordinator has answered Hello.
    public static func connect(
        host: String,
        port: Int,
        tlsContext: NIOSSLContext,
        local: NodeIdentity,
        limits: ConnectionLimits,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(ErrorContext) -> (PeerChannel, EstablishedPeer) {
        let peer: PeerChannel
        do {
            peer = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.writeBufferWaterMark, value: .init(low: limits.sendBufferBytes / 2, high: limits.sendBufferBytes))
                .connectTimeout(limits.handshakeTimeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try PipelineSetup.configure(
                            channel: channel, tlsHandler: try NIOSSLClientHandler(context: tlsContext, serverHostname: nil),
                            side: .dialer, local: local, limits: limits, logger: logger)
                    }
                }
        } catch {
            throw ErrorContext(
                code: .unavailable, message: "cannot connect to the coordinator at \(host):\(port): \(error); is it running?",
                originNode: local.name)
        }
        let failure: ErrorContext
        do {
            let coordinator = try await peer.established.get()
            return (peer, coordinator)
        } catch let context as ErrorContext {
            let what = context.code == .unavailable ? "went away during the handshake" : "refused the connection"
            failure = context.wrapped(in: context.code, "the coordinator at \(host):\(port) \(what): \(context.message)")
        } catch {
            failure = ErrorContext(code: .unavailable, message: "the connection to \(host):\(port) failed: \(error)")
        }
        // An async channel must be finished through executeThenClose, also when it is given up.
        try? await peer.channel.executeThenClose { _, _ in }
        throw failure
    }
}
