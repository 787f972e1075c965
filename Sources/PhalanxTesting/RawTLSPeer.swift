import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PhalanxCore
import PhalanxWire

/// A deliberately misbehaving peer: TLS (or not), then exactly the bytes a test writes.
/// It decodes what the coordinator sends back so tests can read its Error frames.
public final class RawTLSPeer: Sendable {
    public let channel: any Channel
    private let received: NIOLockedValueBox<[Phalanx_V1_Envelope]>

    private init(channel: any Channel, received: NIOLockedValueBox<[Phalanx_V1_Envelope]>) {
        self.channel = channel
        self.received = received
    }

    public static func connect(port: Int, tls: NIOSSLContext?) async throws -> RawTLSPeer {
        let received = NIOLockedValueBox<[Phalanx_V1_Envelope]>([])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                    try channel.pipeline.syncOperations.addHandler(FrameDecoder(maximumFrameBytes: 1 << 20, frameCompletionTimeout: .seconds(30)))
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawTLSPeer(channel: channel, received: received)
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public func send(_ envelope: Phalanx_V1_Envelope) async throws {
        try await channel.writeAndFlush(try FrameEncoder.frame(envelope, allocator: channel.allocator))
    }

    public var envelopes: [Phalanx_V1_Envelope] { received.withLockedValue { $0 } }

    /// Whether the server closed the connection within `timeout`.
    public func closes(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }

    /// Waits until an envelope arrives (or `timeout` passes).
    public func waitForEnvelope(within timeout: Duration) async -> Phalanx_V1_Envelope? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let first = envelopes.first { return first }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return envelopes.first
    }

    /// Stops reading from the socket (a peer that does not read what it is sent).
    public func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// Sends this peer's Hello for `identity` (as a client that speaks the protocol would).
    public func sendHello(as identity: NodeIdentity) async throws {
        try await send(Phalanx_V1_Envelope.hello(from: identity, maximumFrameBytes: 1 << 20))
    }

    /// Waits until an envelope satisfying `match` has arrived (or `timeout` passes).
    public func waitFor(within timeout: Duration, _ match: (Phalanx_V1_Envelope) -> Bool) async -> Phalanx_V1_Envelope? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = envelopes.first(where: match) { return found }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return envelopes.first(where: match)
    }

    /// The first Error frame received, if any.
    public var firstError: Phalanx_V1_ErrorContext? {
        for envelope in envelopes { if case .error(let error) = envelope.body { return error.error } }
        return nil
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[Phalanx_V1_Envelope]>
        init(received: NIOLockedValueBox<[Phalanx_V1_Envelope]>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let envelope = try? Phalanx_V1_Envelope.decode(frame: unwrapInboundIn(data)) {
                received.withLockedValue { $0.append(envelope) }
            }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
