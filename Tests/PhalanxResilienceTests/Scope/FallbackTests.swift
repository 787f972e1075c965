import Logging
import MetricsTestKit
import Testing

@testable import PhalanxResilience

@Suite struct FallbackTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test func degradesOnTheChosenCodesAndCountsIt() async throws {
        let metrics = TestMetrics()
        let value = try await withFallback(name: "prices", logger: quiet, metricsFactory: metrics) {
            throw ErrorContext(code: .circuitOpen, message: "open")
        } fallback: { context in
            "cached (\(context.code.rawValue))"
        }
        #expect(value == "cached (CIRCUIT_OPEN)")
        #expect(try metrics.expectCounter("phalanx_degradations_total", [("name", "prices"), ("code", "CIRCUIT_OPEN")]).totalValue == 1)
    }

    @Test func otherFailuresAreRethrownClassified() async throws {
        let fellBack = Locked(false)
        await #expect {
            try await withFallback(name: "prices", logger: quiet, metricsFactory: TestMetrics()) {
                throw BusinessFailure()
            } fallback: { _ in
                fellBack.withLock { $0 = true }
            }
        } throws: { ($0 as? ErrorContext)?.code == .businessRejected }
        #expect(!fellBack.value)
    }

    @Test func theSuccessfulPrimaryWins() async throws {
        let value = try await withFallback(name: "prices", logger: quiet, metricsFactory: TestMetrics()) { 1 } fallback: { _ in 2 }
        #expect(value == 1)
    }
}
