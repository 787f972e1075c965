import PhalanxCluster
import PhalanxResilience
import PhalanxTransport
import Testing

/// Workers cut off together must not reconnect at the same instants.
@Suite struct ReconnectPolicyTests {
    let policy = WorkerConfiguration(
        coordinatorHost: "127.0.0.1", coordinatorPort: 1, tls: TLSFiles(caCertificatePath: "", certificatePath: "", privateKeyPath: ""),
        reconnectDelay: .milliseconds(500)
    ).reconnectPolicy

    @Test func delaysDoubleUpToTenTimesTheFirstWithHalfOfEachRandom() {
        let expectedCeilings: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)]
        for (index, ceiling) in expectedCeilings.enumerated() {
            let lowest = policy.backoff(beforeRetry: index + 1, previous: .zero, random: 0)
            let highest = policy.backoff(beforeRetry: index + 1, previous: .zero, random: 0.999_999)
            #expect(lowest == ceiling / 2, "retry \(index + 1)")
            #expect(highest > ceiling * 0.99 && highest <= ceiling, "retry \(index + 1)")
        }
    }

    @Test func tenWorkersCutOffTogetherSpreadTheirReconnects() {
        let delays = (0..<10).map { _ in policy.backoff(beforeRetry: 3, previous: .zero, random: Double.random(in: 0..<1)) }
        #expect(Set(delays).count > 1, "jitter spreads them: \(delays)")
        #expect(delays.allSatisfy { $0 >= .seconds(1) && $0 <= .seconds(2) })
    }
}
