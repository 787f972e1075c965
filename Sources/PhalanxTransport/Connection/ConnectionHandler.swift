import Logging
import NIOCore
import NIOSSL
import NIOTLS
import PhalanxCore
import PhalanxResilience
import PhalanxWire

/// Runs the per-connection protocol on one channel: reads the peer's identity from its
/// certificate, exchanges Hello (announcing this node's frame limit and idle timeout), authorizes
/// every message, enforces the handshake deadline and the idle timeout. It only moves bytes and
/// steps a ``ConnectionMachine``; established messages go on to the node's runtime as Envelopes.
///
/// The idle timeout closes an established connection with an Error frame after `limits.idleTimeout`
/// with nothing read, unless the runtime holds it (``ConnectionControl/holdIdleTimeout(_:)``)
/// because the peer is waiting for work; a released hold starts a whole timeout again.
public final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Phalanx_V1_Envelope
    public typealias OutboundIn = OutboundFrame
    public typealias OutboundOut = OutboundFrame

    private var machine: ConnectionMachine
    private let limits: ConnectionLimits
    private let logger: Logger
    private let handshakeFailures: HandshakeFailureMetrics?
    private var handshakeDeadline: Scheduled<Void>?
    private let establishedPromise: EventLoopPromise<EstablishedPeer>
    private var establishedSettled = false
    private var peerHello: Phalanx_V1_Hello?
    private var idleTimeoutHeld = false
    private var lastRead: NIODeadline = .distantPast
    /// Messages delivered to the reader (it counts those it handled).
    public let progress = InboundProgress()
    private var idleCheck: Scheduled<Void>?
    private let peerIdentity: PeerIdentitySource

    /// Completes with the peer once Hello has been exchanged; fails with the reason otherwise.
    public var established: EventLoopFuture<EstablishedPeer> { establishedPromise.futureResult }

    public init(
        side: ConnectionMachine.Side, local: NodeIdentity, limits: ConnectionLimits, logger: Logger, eventLoop: any EventLoop,
        peerIdentity: PeerIdentitySource = .tlsCertificate, handshakeFailures: HandshakeFailureMetrics? = nil
    ) {
        self.handshakeFailures = handshakeFailures
        self.machine = ConnectionMachine(side: side, local: local)
        self.peerIdentity = peerIdentity
        self.limits = limits
        self.logger = logger
        self.establishedPromise = eventLoop.makePromise()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        handshakeDeadline = context.eventLoop.scheduleTask(in: limits.handshakeTimeout) {
            if case .established = handler.value.machine.state {} else { handler.value.handshakeFailures?.record("timeout") }
            handler.value.perform(handler.value.machine.handshakeDeadlinePassed(), context: boundContext.value)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        idleCheck?.cancel()
        fail(ErrorContext(code: .unavailable, message: "the connection closed before the Hello exchange"))
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let tls as TLSUserEvent:
            if case .handshakeCompleted = tls { tlsCompleted(context: context) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = context.eventLoop.now
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
            peerHello = hello
            perform(machine.helloReceived(hello.fields), context: context)
        case .error(let error):
            perform(machine.errorReceived(ErrorContext(wire: error.error)), context: context)
        default:
            guard let kind = envelope.kind else { return }
            for action in machine.messageReceived(kind) {
                if case .deliver = action {
                    progress.deliveredOne()
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
        } else if case .established = machine.state, let reason = TLSFailureReason.describeAfterHandshake(error) {
            // The handshake succeeded long ago: this is a lost connection, not a refused peer.
            logger.info("connection lost", metadata: peerMetadata.merging(["reason": "\(reason)"]) { $1 })
            machine.closed()
            context.close(promise: nil)
        } else if let reason = TLSFailureReason.describe(error) {
            logger.warning("TLS handshake failed", metadata: peerMetadata.merging(["reason": "\(reason)"]) { $1 })
            handshakeFailures?.record(TLSFailureReason.label(error) ?? "other")
            // A handshake the peer cut off says nothing about certificates: the peer may come back.
            let code: ErrorCode = TLSFailureReason.isClosedDuringHandshake(error) ? .unavailable : .unauthenticated
            fail(ErrorContext(code: code, message: reason, originNode: machine.local.name))
            context.close(promise: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    private func tlsCompleted(context: ChannelHandlerContext) {
        do {
            let peer = try peerIdentity.identify(context)
            lastPeer = peer
            perform(machine.connected(peer: peer), context: context)
        } catch {
            handshakeFailures?.record("identity")
            perform(machine.decodeFailed(error), context: context)
        }
    }

    private func perform(_ actions: [ConnectionMachine.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .sendHello:
                let hello = Phalanx_V1_Envelope.hello(
                    from: machine.local, maximumFrameBytes: limits.maximumFrameBytes, idleTimeout: .nanoseconds(limits.idleTimeout.nanoseconds))
                context.writeAndFlush(wrapOutboundOut(.envelope(hello)), promise: nil)
            case .established(let peer):
                handshakeDeadline?.cancel()
                handshakeDeadline = nil
                lastRead = context.eventLoop.now
                scheduleIdleCheck(at: lastRead + limits.idleTimeout, context: context)
                logger.debug("connection established", metadata: ["peer": "\(peer.uri)"])
                if !establishedSettled {
                    establishedSettled = true
                    let frameBytes = Int(peerHello?.maxFrameBytes ?? 0)
                    let idleMilliseconds = Int64(peerHello?.idleTimeoutMs ?? 0)
                    establishedPromise.succeed(EstablishedPeer(
                        identity: peer,
                        maximumFrameBytes: frameBytes > 0 ? frameBytes : EstablishedPeer.defaultMaximumFrameBytes,
                        idleTimeout: idleMilliseconds > 0 ? .milliseconds(idleMilliseconds) : nil))
                }
            case .deliver:
                break
            case .reject(let error):
                logger.warning(
                    "rejecting connection",
                    metadata: lastPeerMetadata.merging(["code": "\(error.code.rawValue)", "reason": "\(error.message)"]) { $1 })
                fail(error)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.envelope(.error(error)))).whenComplete { _ in channel.close(promise: nil) }
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

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let control = event as? ConnectionControl else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch control {
        case .holdIdleTimeout(let held):
            // A peer released from a hold gets a whole idle timeout from now, however long it waited.
            if idleTimeoutHeld && !held { lastRead = context.eventLoop.now }
            idleTimeoutHeld = held
        }
        promise?.succeed()
    }

    // MARK: - Idle timeout

    /// The idle timer runs on the event loop's own clock (`EventLoop.now`), so it can be driven by
    /// an `EmbeddedEventLoop`'s virtual time in tests (NIO's IdleStateHandler reads the wall clock).
    private func scheduleIdleCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            handler.value.idleCheckDue(context: boundContext.value)
        }
    }

    private func idleCheckDue(context: ChannelHandlerContext) {
        guard case .established = machine.state else { return }
        let now = context.eventLoop.now
        let due = lastRead + limits.idleTimeout
        if now < due {
            scheduleIdleCheck(at: due, context: context)
        } else if idleTimeoutHeld {
            scheduleIdleCheck(at: now + limits.idleTimeout, context: context)
        } else {
            closeIdle(context: context)
        }
    }

    private func closeIdle(context: ChannelHandlerContext) {
        let milliseconds = limits.idleTimeout.nanoseconds / 1_000_000
        let error = ErrorContext(
            code: .unavailable,
            message: "nothing was read from this connection for \(milliseconds) ms (limits.idle_timeout_ms) and no work is outstanding on it; send a Heartbeat at least every \(milliseconds / 3) ms to keep it open",
            originNode: machine.local.name)
        logger.info("closing an idle connection", metadata: peerMetadata)
        machine.closed()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.envelope(.error(error)))).whenComplete { _ in channel.close(promise: nil) }
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
