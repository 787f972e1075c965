import NIOCore
import PhalanxCore
import PhalanxWire

/// One established-or-establishing connection as the runtime sees it: Envelopes in and out, and
/// the peer's identity once Hello has been exchanged.
public struct PeerChannel: Sendable {
    public let channel: NIOAsyncChannel<Phalanx_V1_Envelope, Phalanx_V1_Envelope>
    /// The peer's identity after Hello; fails with the reason if the handshake did not succeed.
    public let established: EventLoopFuture<NodeIdentity>
}
