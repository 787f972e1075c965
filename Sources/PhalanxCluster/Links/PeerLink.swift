import NIOCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// What a runtime may do to one established connection: write, flush, close with an error, hold
/// the idle timeout. Runtimes act on connections only through this, never on NIO channels in
/// their logic.
public protocol PeerLink: Sendable {
    /// Who is at the other end and the limits it announced.
    var peer: EstablishedPeer { get }
    /// Whether the connection's outbound buffer is below its high-water mark.
    var isWritable: Bool { get }
    /// Queues `envelope` (sent at the next flush).
    func write(_ envelope: Phalanx_V1_Envelope)
    /// Queues a frame built earlier (sent at the next flush, in order with the envelopes).
    func write(frame: ByteBuffer)
    func flush()
    /// Sends an Error frame with `error` (if any), then closes.
    func close(with error: ErrorContext?)
    /// Suspends (true) or resumes (false) the idle timeout.
    func holdIdleTimeout(_ held: Bool)
    /// The connection's event loop as an executor: a task that writes to this link runs there
    /// without a thread hop per write (nil: no such loop).
    var executor: (any TaskExecutor)? { get }
    /// What the connection delivered and its reader handled (nil: not counted).
    var inbound: InboundProgress? { get }
}

extension PeerLink {
    public var inbound: InboundProgress? { nil }
}

/// A ``PeerLink`` over a NIO channel: writes never block (NIO queues them). What is sent together
/// leaves together (``OutboundBatcher``): one flush per turn of the channel's loop.
public struct ChannelPeerLink: PeerLink {
    public let channel: any Channel
    public let peer: EstablishedPeer
    public let inbound: InboundProgress?
    private let outbound: OutboundBatcher<OutboundFrame>

    public init(channel: any Channel, peer: EstablishedPeer, inbound: InboundProgress? = nil) {
        self.channel = channel
        self.peer = peer
        self.inbound = inbound
        outbound = OutboundBatcher(channel: channel)
    }

    public var isWritable: Bool { channel.isWritable }

    public func write(_ envelope: Phalanx_V1_Envelope) {
        outbound.write(envelope)
    }

    public func write(frame: ByteBuffer) {
        outbound.write(.framed(frame))
    }

    public func flush() {
        outbound.flush()
    }

    public func close(with error: ErrorContext?) {
        outbound.afterPendingWrites { channel in
            guard let error else {
                channel.close(promise: nil)
                return
            }
            channel.writeAndFlush(OutboundFrame.envelope(.error(error))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    public func holdIdleTimeout(_ held: Bool) {
        channel.triggerUserOutboundEvent(ConnectionControl.holdIdleTimeout(held), promise: nil)
    }

    public var executor: (any TaskExecutor)? { EventLoopTaskExecutor(channel.eventLoop) }
}
