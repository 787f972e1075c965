import Logging
import NIOCore
import NIOSSL
import PhalanxClient
import PhalanxCore
import PhalanxResilience
import PhalanxTesting
import PhalanxTransport
import PhalanxWire
import Testing

/// Real TLS over real loopback sockets against an in-process coordinator.
@Suite(.serialized, .timeLimit(.minutes(1))) struct MutualTLSTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    func connectAsClient(_ coordinator: InProcessCoordinator, files: TLSFiles = TestCertificates.files("client")) async throws -> PhalanxClient {
        try await PhalanxClient.connect(host: "127.0.0.1", port: coordinator.port, tls: files, limits: coordinator.limits, logger: quiet)
    }

    /// A good client is served: status comes back.
    func assertServesGoodClient(_ coordinator: InProcessCoordinator) async throws {
        let client = try await connectAsClient(coordinator)
        let status = try await client.status()
        #expect(status.coordinator == "coordinator")
        await client.close()
    }

    @Test func theRightCertificateWorks() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aClientWithoutCertificateIsRejectedWithANamedReason() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(TestCertificates.files("client").caCertificatePath)
            configuration.certificateVerification = .noHostnameVerification
            configuration.minimumTLSVersion = .tlsv13
            let context = try NIOSSLContext(configuration: configuration)
            let local = NodeIdentity(cluster: "demo", role: .client, name: "client")
            await #expect(throws: ErrorContext.self) {
                _ = try await PhalanxDialer.connect(
                    host: "127.0.0.1", port: coordinator.port, tlsContext: context, local: local, limits: coordinator.limits, logger: quiet)
            }
            try await eventually("the coordinator logs " + "sent no client certificate") { coordinator.logged("sent no client certificate") }
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aCertificateFromAnotherCAIsRejectedWithANamedReason() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            await #expect(throws: ErrorContext.self) {
                _ = try await connectAsClient(coordinator, files: TestCertificates.files("client", authority: "other"))
            }
            try await eventually("the coordinator logs " + "does not chain to the cluster CA") { coordinator.logged("does not chain to the cluster CA") }
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aPlaintextClientIsRejectedAsNonTLS() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: nil)
            try await peer.send([0, 0, 0, 5] + Array("hello".utf8))
            #expect(await peer.closes(within: .seconds(3)))
            try await eventually("the coordinator logs " + "non-TLS bytes") { coordinator.logged("non-TLS bytes") }
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aHelloThatContradictsTheCertificateIsRejected() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let files = TestCertificates.files("client")
            let impostor = NodeIdentity(cluster: "demo", role: .worker, name: "w1")  // claims, the certificate says client/client
            await #expect {
                _ = try await PhalanxDialer.connect(
                    host: "127.0.0.1", port: coordinator.port, tlsContext: try files.makeClientContext(), local: impostor,
                    limits: coordinator.limits, logger: quiet)
            } throws: { error in
                let context = error as? ErrorContext
                return context?.code == .unauthenticated && context?.message.contains("certificate says client/client") == true
            }
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aCertificateForAnotherClusterIsRejected() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            await #expect {
                _ = try await connectAsClient(coordinator, files: TestCertificates.files("stranger"))
            } throws: { error in
                (error as? ErrorContext)?.code == .clusterMismatch
            }
        }
    }

    @Test func aWorkerCertificateCannotSubmit() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let worker = try await connectAsClient(coordinator, files: TestCertificates.files("w1"))
            await #expect {
                try await worker.submit([TaskRequest(taskID: "t1", kind: "echo", text: "x")])
            } throws: { error in
                let context = error as? ErrorContext
                return context?.code == .permissionDenied && context?.message.contains("worker") == true
                    && context?.message.contains("submit") == true
            }
            try await assertServesGoodClient(coordinator)
        }
    }

    @Test func aClientCertificateCannotRegisterAsAWorker() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let files = TestCertificates.files("client")
            let peer = try await RawTLSPeer.connect(port: coordinator.port, tls: try files.makeClientContext())
            try await peer.send(.hello(from: NodeIdentity(cluster: "demo", role: .client, name: "client")))
            var registration = Phalanx_V1_RegisterWorker()
            registration.capacity = 4
            registration.kinds = ["echo"]
            var envelope = Phalanx_V1_Envelope()
            envelope.body = .register(registration)
            try await peer.send(envelope)
            #expect(await peer.closes(within: .seconds(3)))
            let error = try #require(peer.firstError)
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("client") && error.message.contains("register"))
        }
    }

    @Test func aHelloAnnouncingAFrameLimitBelowTheFloorIsRefusedAndOneAtTheFloorIsServed() async throws {
        try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
            let files = TestCertificates.files("client")
            let identity = NodeIdentity(cluster: "demo", role: .client, name: "client")
            let small = try await RawTLSPeer.connect(port: coordinator.port, tls: try files.makeClientContext())
            try await small.send(.hello(from: identity, maximumFrameBytes: FrameLimits.minimumBytes - 1))
            #expect(await small.closes(within: .seconds(3)))
            let error = try #require(small.firstError)
            #expect(error.code == .invalidArgument && error.message.contains("\(FrameLimits.minimumBytes - 1) bytes") && error.message.contains("limits.max_frame_bytes"))

            let atFloor = try await RawTLSPeer.connect(port: coordinator.port, tls: try files.makeClientContext())
            try await atFloor.send(.hello(from: identity, maximumFrameBytes: FrameLimits.minimumBytes))
            try await atFloor.send(Phalanx_V1_Envelope(.statusRequest(Phalanx_V1_StatusRequest())))
            let reply = await atFloor.waitFor(within: .seconds(3)) { if case .statusReply = $0.body { true } else { false } }
            #expect(reply != nil, "a peer at the floor is served: \(String(describing: atFloor.firstError))")
        }
    }
}
