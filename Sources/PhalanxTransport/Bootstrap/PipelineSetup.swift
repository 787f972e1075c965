import Logging
import NIOCore
import NIOSSL
import PhalanxCore
import PhalanxWire

/// Builds the pipeline every Phalanx connection uses, in one place for both sides:
/// TLS → frame decoder (size limit, completion deadline) → frame encoder → connection handler.
enum PipelineSetup {
    static func configure(
        channel: any Channel,
        tlsHandler: NIOSSLHandler,
        side: ConnectionMachine.Side,
        local: NodeIdentity,
        limits: ConnectionLimits,
        logger: Logger,
        handshakeFailures: HandshakeFailureMetrics? = nil
    ) throws -> PeerChannel {
        let connection = ConnectionHandler(
            side: side, local: local, limits: limits, logger: logger, eventLoop: channel.eventLoop, handshakeFailures: handshakeFailures)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(tlsHandler)
        try sync.addHandler(FrameDecoder(maximumFrameBytes: limits.maximumFrameBytes, frameCompletionTimeout: limits.frameCompletionTimeout))
        try sync.addHandler(FrameEncoder())
        try sync.addHandler(connection)
        let asyncChannel = try NIOAsyncChannel<Phalanx_V1_Envelope, OutboundFrame>(
            wrappingChannelSynchronously: channel,
            configuration: .init(
                backPressureStrategy: .init(lowWatermark: max(1, limits.inboundHighWatermark / 2), highWatermark: limits.inboundHighWatermark),
                isOutboundHalfClosureEnabled: false))
        return PeerChannel(channel: asyncChannel, established: connection.established, progress: connection.progress)
    }
}
