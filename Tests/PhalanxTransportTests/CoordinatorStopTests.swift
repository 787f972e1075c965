import PhalanxTesting
import Testing

/// Stopping a coordinator while connections are still arriving.
@Suite(.timeLimit(.minutes(1))) struct CoordinatorStopTests {
    /// Connections accepted but not yet handed to the accept loop are served and closed when the
    /// coordinator stops, not dropped (NIO traps on an async channel dropped unfinished, which
    /// crashed the whole test process now and then).
    @Test func stoppingRightAfterABurstOfConnectionsClosesEveryOneOfThem() async throws {
        var peers: [RawTLSPeer] = []
        for _ in 0..<5 {
            try await InProcessCoordinator.with(files: TestCertificates.files("coordinator")) { coordinator in
                peers = try await withThrowingTaskGroup(of: RawTLSPeer.self) { group in
                    for _ in 0..<64 { group.addTask { try await RawTLSPeer.connect(port: coordinator.port, tls: nil) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            for peer in peers {
                try await peer.channel.closeFuture.get()  // the coordinator closed it
            }
        }
        #expect(peers.count == 64)
    }
}
