import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
import PhalanxCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire
import Testing

/// The connection handler on an EmbeddedChannel: no sockets, no TLS, time advanced by hand. The
/// peer's identity is fixed (as if its certificate said so) and the TLS handshake event is fired
/// by the test.
@Suite struct ConnectionHandlerTests {
    static let coordinator = NodeIdentity(cluster: "test", role: .coordinator, name: "coordinator")
    static let client = NodeIdentity(cluster: "test", role: .client, name: "app")

    struct Harness {
        let channel: EmbeddedChannel
        let handler: ConnectionHandler

        /// A coordinator-side handler for a connection from `peer`, TLS already complete.
        init(peer: NodeIdentity = client, limits: ConnectionLimits = Harness.limits) throws {
            channel = EmbeddedChannel()
            handler = ConnectionHandler(
                side: .coordinator, local: ConnectionHandlerTests.coordinator, limits: limits,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), eventLoop: channel.eventLoop,
                peerIdentity: .fixed(peer))
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        static var limits: ConnectionLimits {
            var limits = ConnectionLimits()
            limits.handshakeTimeout = .seconds(5)
            limits.idleTimeout = .seconds(60)
            limits.maximumFrameBytes = 64 * 1024
            return limits
        }

        func completeTLS() {
            channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        }

        func receive(_ envelope: Phalanx_V1_Envelope) throws {
            try channel.writeInbound(ByteBuffer(bytes: try envelope.serializedBytes() as [UInt8]))
        }

        /// Completes TLS and the Hello exchange as `identity` claims it.
        func establish(as identity: NodeIdentity = client, frameBytes: Int = 32 * 1024, idle: Duration = .seconds(9)) throws {
            completeTLS()
            try receive(.hello(from: identity, maximumFrameBytes: frameBytes, idleTimeout: idle))
        }

        func sent() throws -> [Phalanx_V1_Envelope] {
            var envelopes: [Phalanx_V1_Envelope] = []
            while let frame = try channel.readOutbound(as: OutboundFrame.self) {
                guard case .envelope(let envelope) = frame else {
                    Issue.record("the connection handler wrote a prebuilt frame: \(frame)")
                    continue
                }
                envelopes.append(envelope)
            }
            return envelopes
        }

        func delivered() throws -> [Phalanx_V1_Envelope] {
            var envelopes: [Phalanx_V1_Envelope] = []
            while let envelope = try channel.readInbound(as: Phalanx_V1_Envelope.self) { envelopes.append(envelope) }
            return envelopes
        }

        var isOpen: Bool { channel.isActive }
    }

    static func errorCode(_ envelope: Phalanx_V1_Envelope?) -> ErrorCode? {
        guard let envelope, case .error(let error) = envelope.body else { return nil }
        return ErrorContext(wire: error.error).code
    }

    @Test func aValidHelloIsAnsweredAndEstablishesThePeerWithTheLimitsItAnnounced() throws {
        let harness = try Harness()
        try harness.establish(frameBytes: 40_000, idle: .seconds(9))
        let sent = try harness.sent()
        #expect(sent.count == 1)
        guard case .hello(let hello) = sent.first?.body else {
            Issue.record("expected our Hello, got \(sent)")
            return
        }
        #expect(hello.node == "coordinator" && hello.maxFrameBytes == 64 * 1024 && hello.idleTimeoutMs == 60_000)
        let peer = try harness.handler.established.wait()
        #expect(peer == EstablishedPeer(identity: Self.client, maximumFrameBytes: 40_000, idleTimeout: .seconds(9)))
        #expect(harness.isOpen)
    }

    @Test func anAllowedMessageIsDeliveredAndAForbiddenOneIsRefusedAndClosed() throws {
        let harness = try Harness()
        try harness.establish()
        _ = try harness.sent()
        try harness.receive(Phalanx_V1_Envelope(.submit(Phalanx_V1_SubmitBatch())))
        #expect(try harness.delivered().count == 1)
        try harness.receive(Phalanx_V1_Envelope(.register(Phalanx_V1_RegisterWorker())))
        #expect(try harness.delivered().isEmpty)
        let sent = try harness.sent()
        #expect(Self.errorCode(sent.last) == .permissionDenied)
        #expect(!harness.isOpen)
    }

    /// The handler counts what it delivers; the reader counts what it handled. The difference is
    /// what waits (a coordinator behind on a worker's messages must not judge the worker silent).
    /// Hello and refused messages are not delivered and not counted.
    @Test func deliveredMessagesAreCountedSoThatABacklogShows() throws {
        let harness = try Harness()
        try harness.establish()
        #expect(harness.handler.progress.backlog == 0)
        for _ in 0..<3 { try harness.receive(Phalanx_V1_Envelope(.statusRequest(Phalanx_V1_StatusRequest()))) }
        #expect(try harness.delivered().count == 3 && harness.handler.progress.backlog == 3)
        harness.handler.progress.handledOne()
        harness.handler.progress.handledOne()
        #expect(harness.handler.progress.backlog == 1)
        harness.handler.progress.handledOne()
        #expect(harness.handler.progress.backlog == 0)
        try harness.receive(Phalanx_V1_Envelope(.register(Phalanx_V1_RegisterWorker())))  // refused: a client may not register
        #expect(harness.handler.progress.backlog == 0)
    }

    @Test func aMessageBeforeHelloIsAProtocolErrorAndNothingIsDelivered() throws {
        let harness = try Harness()
        harness.completeTLS()
        try harness.receive(Phalanx_V1_Envelope(.submit(Phalanx_V1_SubmitBatch())))
        #expect(try harness.delivered().isEmpty)
        #expect(Self.errorCode(try harness.sent().last) == .protocolError)
        #expect(!harness.isOpen)
        #expect(throws: ErrorContext.self) { try harness.handler.established.wait() }
    }

    @Test func aHelloThatContradictsTheCertificateIsUnauthenticated() throws {
        let harness = try Harness()
        try harness.establish(as: NodeIdentity(cluster: "test", role: .admin, name: "app"))
        #expect(Self.errorCode(try harness.sent().last) == .unauthenticated)
        #expect(!harness.isOpen)
    }

    @Test func undecodableBytesAreMalformedAndNameTheNodeThatRefusedThem() throws {
        let harness = try Harness()
        try harness.establish()
        _ = try harness.sent()
        try harness.channel.writeInbound(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]))
        let sent = try harness.sent()
        guard let last = sent.last, case .error(let error) = last.body else {
            Issue.record("expected an Error frame, got \(sent)")
            return
        }
        #expect(ErrorContext(wire: error.error).code == .malformedFrame)
        #expect(error.error.originNode == "coordinator")
        #expect(!harness.isOpen)
    }

    @Test func theHandshakeDeadlineClosesAPeerThatNeverSaysHelloAndNotOneThatDid() throws {
        let late = try Harness()
        late.completeTLS()
        late.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(late.isOpen)
        late.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(Self.errorCode(try late.sent().last) == .deadlineExceeded)
        #expect(!late.isOpen)

        let onTime = try Harness()
        try onTime.establish()
        onTime.channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(onTime.isOpen)
    }

    @Test func anIdleConnectionIsClosedWithAnErrorNamingTheLimitAndTheKeepAlive() throws {
        let harness = try Harness()
        try harness.establish()
        _ = try harness.sent()
        harness.channel.embeddedEventLoop.advanceTime(by: .milliseconds(59_999))
        #expect(harness.isOpen)
        harness.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let sent = try harness.sent()
        guard let last = sent.last, case .error(let error) = last.body else {
            Issue.record("expected an Error frame, got \(sent)")
            return
        }
        #expect(ErrorContext(wire: error.error).code == .unavailable)
        #expect(error.error.message.contains("limits.idle_timeout_ms") && error.error.message.contains("Heartbeat"))
        #expect(!harness.isOpen)
    }

    @Test func anyReadRestartsTheIdleTimer() throws {
        let harness = try Harness()
        try harness.establish()
        for _ in 0..<5 {
            harness.channel.embeddedEventLoop.advanceTime(by: .seconds(50))
            try harness.receive(Phalanx_V1_Envelope(.heartbeat(Phalanx_V1_Heartbeat())))
        }
        #expect(harness.isOpen)
    }

    @Test func aHeldIdleTimeoutKeepsAQuietConnectionOpenUntilReleased() throws {
        let harness = try Harness()
        try harness.establish()
        _ = try harness.sent()
        try harness.channel.triggerUserOutboundEvent(ConnectionControl.holdIdleTimeout(true)).wait()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(harness.isOpen)
        try harness.channel.triggerUserOutboundEvent(ConnectionControl.holdIdleTimeout(false)).wait()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(Self.errorCode(try harness.sent().last) == .unavailable)
        #expect(!harness.isOpen)
    }

    @Test func aPeerErrorFrameClosesWithoutAnAnswer() throws {
        let harness = try Harness()
        try harness.establish()
        _ = try harness.sent()
        try? harness.receive(.error(ErrorContext(code: .internal, message: "the peer gave up")))
        #expect(try harness.sent().isEmpty)
        #expect(!harness.isOpen)
    }
}
