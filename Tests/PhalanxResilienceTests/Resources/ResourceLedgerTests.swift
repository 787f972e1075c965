import Clocks
import MetricsTestKit
import Testing

@testable import PhalanxResilience

@Suite struct ResourceLedgerTests {
    @Test func returnsToZeroAfterAStormOfCancellationsAndFailures() async throws {
        let clock = TestClock()
        let metrics = TestMetrics()
        let ledger = ResourceLedger(metricsFactory: metrics)
        let released = Locked(0)
        let tasks = (0..<300).map { index in
            Task {
                try await withResource(kind: "connection", ledger: ledger) {
                    index
                } release: { _ in
                    released.withLock { $0 += 1 }
                } _: { resource in
                    switch resource % 3 {
                    case 0: throw PlainError()
                    case 1: try await clock.sleep(for: .seconds(3_600))  // cancelled below
                    default: return
                    }
                }
            }
        }
        try await eventually("all resources acquired") { released.value + ledger.openCount("connection") == 300 }
        try await eventually("the sleepers parked") { ledger.openCount("connection") == 100 }
        #expect(ledger.openCount("connection") == 100)
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.result }
        #expect(ledger.openCount("connection") == 0)
        #expect(released.value == 300)
        #expect(try metrics.expectGauge("phalanx_resources_open", [("kind", "connection")]).lastValue == 0)
    }

    @Test func aFailedAcquireOpensNothing() async throws {
        let ledger = ResourceLedger(metricsFactory: TestMetrics())
        await #expect(throws: PlainError.self) {
            try await withResource(kind: "file", ledger: ledger) { () throws -> Int in throw PlainError() } release: { _ in } _: { _ in }
        }
        #expect(ledger.openCount("file") == 0)
    }
}
