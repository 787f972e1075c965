import Logging
import NIOCore
import NIOSSL
import NIOTLS
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// Runs the per-connection protocol on one channel: reads the peer's identity from its
/// certificate, exchanges Hello, authorizes every message, enforces the handshake deadline and
/// the idle timeout. It only moves bytes and steps a ``ConnectionMachine``; established
/// messages go on to the node's runtime as Envelopes.
public final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Phalanx_V1_Envelope
    public typealias OutboundIn = Phalanx_V1_Envelope
    public typealias OutboundOut = Phalanx_V1_Envelope

    private var machine: ConnectionMachine
    private let limits: ConnectionLimits
    private let logger: Logger
    private var handshakeDeadline: Scheduled<Void>?
    private let establishedPromise: EventLoopPromise<NodeIdentity>
    private var establishedSettled = false

    /// Completes with the peer's identity once Hello has been exchanged; fails with the reason otherwise.
    public var established: EventLoopFuture<NodeIdentity> { establishedPromise.futureResult }

    public init(side: ConnectionMachine.Side, local: NodeIdentity, limits: ConnectionLimits, logger: Logger, eventLoop: any EventLoop) {
        self.machine = ConnectionMachine(side: side, local: local)
        self.limits = limits
        self.logger = logger
        self.establishedPromise = eventLoop.makePromise()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        handshakeDeadline = context.eventLoop.scheduleTask(in: limits.handshakeTimeout) {
            handler.value.perform(handler.value.machine.handshakeDeadlinePassed(), context: boundContext.value)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        fail(ErrorContext(code: .unavailable, message: "the connection closed before the Hello exchange"))
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let tls as TLSUserEvent:
            if case .handshakeCompleted = tls { tlsCompleted(context: context) }
        case is IdleStateHandler.IdleStateEvent:
            logger.info("closing an idle connection", metadata: peerMetadata)
            context.close(promise: nil)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let envelope: Phalanx_V1_Envelope
        do {
            envelope = try Phalanx_V1_Envelope.decode(frame: frame)
        } catch {
            perform(machine.decodeFailed(error.errorContext), context: context)
            return
        }
        switch envelope.body {
        case .hello(let hello):
            perform(machine.helloReceived(hello.fields), context: context)
        case .error(let error):
            perform(machine.errorReceived(ErrorContext(wire: error.error)), context: context)
        default:
            guard let kind = envelope.kind else { return }
            for action in machine.messageReceived(kind) {
                if case .deliver = action {
                    context.fireChannelRead(wrapInboundOut(envelope))
                } else {
                    perform([action], context: context)
                }
            }
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? FrameError {
            perform(machine.decodeFailed(frameError.errorContext), context: context)
        } else if let reason = TLSFailureReason.describe(error) {
            logger.warning("TLS handshake failed", metadata: peerMetadata.merging(["reason": "\(reason)"]) { $1 })
            fail(ErrorContext(code: .unauthenticated, message: reason))
            context.close(promise: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    private func tlsCompleted(context: ChannelHandlerContext) {
        let certificate: NIOSSLCertificate?
        do {
            certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate()
        } catch {
            certificate = nil
        }
        guard let certificate else {
            perform(machine.decodeFailed(ErrorContext(code: .unauthenticated, message: "the peer presented no certificate")), context: context)
            return
        }
        do {
            let peer = try CertificateIdentity.identity(of: certificate, source: "the peer's certificate")
            lastPeer = peer
            perform(machine.connected(peer: peer), context: context)
        } catch {
            perform(machine.decodeFailed(error), context: context)
        }
    }

    private func perform(_ actions: [ConnectionMachine.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .sendHello:
                context.writeAndFlush(wrapOutboundOut(.hello(from: machine.local)), promise: nil)
            case .established(let peer):
                handshakeDeadline?.cancel()
                handshakeDeadline = nil
                do {
                    try context.pipeline.syncOperations.addHandler(
                        IdleStateHandler(readTimeout: limits.idleTimeout), position: .before(self))
                } catch {
                    logger.error("cannot install the idle timeout; closing", metadata: ["error": "\(error)"])
                    context.close(promise: nil)
                }
                logger.debug("connection established", metadata: ["peer": "\(peer.uri)"])
                if !establishedSettled {
                    establishedSettled = true
                    establishedPromise.succeed(peer)
                }
            case .deliver:
                break
            case .reject(let error):
                logger.warning(
                    "rejecting connection",
                    metadata: lastPeerMetadata.merging(["code": "\(error.code.rawValue)", "reason": "\(error.message)"]) { $1 })
                fail(error)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.error(error))).whenComplete { _ in channel.close(promise: nil) }
            case .peerFailed(let error):
                logger.warning(
                    "the peer reported an error and closes",
                    metadata: peerMetadata.merging(["code": "\(error.code.rawValue)", "reason": "\(error.message)"]) { $1 })
                fail(error)
                context.fireErrorCaught(error)
                context.close(promise: nil)
            case .closeSilently(let error):
                logger.warning("closing connection", metadata: peerMetadata.merging(["reason": "\(error.message)"]) { $1 })
                fail(error)
                context.close(promise: nil)
            case .ignore:
                break
            }
        }
    }

    private func fail(_ error: ErrorContext) {
        guard !establishedSettled else { return }
        establishedSettled = true
        establishedPromise.fail(error)
    }

    /// The last peer identity known on this connection (kept after the machine closes, for logs).
    private var lastPeer: NodeIdentity?

    private var peerMetadata: Logger.Metadata {
        switch machine.state {
        case .awaitingHello(let peer), .established(let peer): ["peer": "\(peer.uri)"]
        case .awaitingTLS, .closed: lastPeerMetadata
        }
    }

    private var lastPeerMetadata: Logger.Metadata {
        lastPeer.map { ["peer": "\($0.uri)"] } ?? [:]
    }
}
