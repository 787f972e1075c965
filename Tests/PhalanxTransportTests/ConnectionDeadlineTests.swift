import NIOCore
import PhalanxCore
import PhalanxTesting
import PhalanxWire
import Testing

/// The per-connection deadlines, against a real coordinator over real TLS.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ConnectionDeadlineTests {
    @Test func aPeerThatCompletesTLSButNeverSendsHelloIsDisconnected() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let started = ContinuousClock.now  // before the connection exists, so the deadline cannot have started earlier
            let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: try TestCertificates.files("client").makeClientContext())
            #expect(await peer.closes(within: .seconds(5)))
            #expect(ContinuousClock.now - started >= .milliseconds(300), "closed by the handshake deadline, not at once")
            #expect(peer.firstError?.code == .deadlineExceeded)
        }
    }

    @Test func aPeerTricklingAFrameIsDisconnectedByTheFrameDeadline() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let peer = try await Self.clientAfterHello(coordinator)
            // A header announcing 100 bytes, then one byte every 100 ms: never idle, never complete.
            try await peer.send([0, 0, 0, 100])
            var closed = false
            for _ in 0..<30 where !closed {
                try? await peer.send([1])
                try await Task.sleep(for: .milliseconds(100))
                closed = !peer.channel.isActive
            }
            let closedInTheEnd = closed ? true : await peer.closes(within: .seconds(1))
            #expect(closedInTheEnd)
            #expect(peer.firstError?.code == .malformedFrame)
        }
    }

    @Test func anOversizedFrameGetsFrameTooLargeAndAClose() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let peer = try await Self.clientAfterHello(coordinator)
            try await peer.send([0x01, 0x00, 0x00, 0x00])  // 16 MiB declared, limit 64 KiB, no body sent
            #expect(await peer.closes(within: .seconds(3)))
            #expect(peer.firstError?.code == .frameTooLarge && peer.firstError?.originNode == "coordinator")
        }
    }

    @Test func garbageAfterHelloGetsMalformedFrame() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let peer = try await Self.clientAfterHello(coordinator)
            try await peer.send([0, 0, 0, 3, 0xFF, 0xFF, 0xFF])
            #expect(await peer.closes(within: .seconds(3)))
            #expect(peer.firstError?.code == .malformedFrame)
            #expect(peer.firstError?.originNode == "coordinator", "a framing error names the node that found it")
        }
    }

    @Test func aHelloOfAnotherProtocolVersionIsAnsweredWithVersionMismatch() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: try TestCertificates.files("client").makeClientContext())
            var hello = Phalanx_V1_Hello()
            hello.protocolVersion = 99
            hello.cluster = "demo"
            hello.role = .client
            hello.node = "client"
            var envelope = Phalanx_V1_Envelope()
            envelope.body = .hello(hello)
            try await peer.send(envelope)
            #expect(await peer.closes(within: .seconds(3)))
            let error = try #require(peer.firstError)
            #expect(error.code == .versionMismatch && error.message.contains("99"))
        }
    }

    @Test func aMessageBeforeHelloIsAProtocolError() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator"), limits: InProcessCoordinator.shortLimits) { coordinator in
            let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: try TestCertificates.files("client").makeClientContext())
            var envelope = Phalanx_V1_Envelope()
            envelope.body = .statusRequest(Phalanx_V1_StatusRequest())
            try await peer.send(envelope)
            #expect(await peer.closes(within: .seconds(3)))
            #expect(peer.firstError?.code == .protocolError)
        }
    }

    /// A raw client that has completed TLS and the Hello exchange (the coordinator's Hello is checked).
    static func clientAfterHello(_ coordinator: InProcessCoordinator) async throws -> RawTLSPeer {
        let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: try TestCertificates.files("client").makeClientContext())
        try await peer.send(.hello(from: NodeIdentity(cluster: "demo", role: .client, name: "client")))
        let hello = await peer.waitForEnvelope(within: .seconds(3))
        #expect(hello?.kind == .hello, "the coordinator should answer Hello")
        return peer
    }
}
