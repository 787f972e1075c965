import NIOCore
import PhalanxCore
import PhalanxWire

/// One established-or-establishing connection as the runtime sees it: Envelopes in, frames out, and
/// the peer's identity and limits once Hello has been exchanged.
public struct PeerChannel: Sendable {
    public let channel: NIOAsyncChannel<Phalanx_V1_Envelope, OutboundFrame>
    /// The peer after Hello; fails with the reason if the handshake did not succeed.
    public let established: EventLoopFuture<EstablishedPeer>
    /// Messages delivered to the reader and handled by it (see ``InboundProgress``).
    public let progress: InboundProgress
}

/// The other end of an established connection: who it is (from its certificate) and the limits
/// it announced in its Hello, which this node must respect when it writes.
public struct EstablishedPeer: Sendable, Hashable {
    /// The frame size assumed for a peer that announces none.
    public static let defaultMaximumFrameBytes = 4 * 1024 * 1024

    public let identity: NodeIdentity
    /// The largest frame the peer accepts.
    public let maximumFrameBytes: Int
    /// The peer closes the connection after this long with nothing read (nil: it never does).
    public let idleTimeout: Duration?

    public init(identity: NodeIdentity, maximumFrameBytes: Int, idleTimeout: Duration?) {
        self.identity = identity
        self.maximumFrameBytes = maximumFrameBytes
        self.idleTimeout = idleTimeout
    }

    /// How often to send a keep-alive Heartbeat so the peer's idle timer never fires (nil: never needed).
    public var keepAliveInterval: Duration? {
        idleTimeout.map { max(.milliseconds(20), $0 / 3) }
    }
}

/// Outbound user events a runtime sends to its connection's handler.
public enum ConnectionControl: Sendable, Hashable {
    /// Suspend (true) or resume (false) the idle timeout: a peer waiting for its work is never
    /// closed for being quiet.
    case holdIdleTimeout(Bool)
}
