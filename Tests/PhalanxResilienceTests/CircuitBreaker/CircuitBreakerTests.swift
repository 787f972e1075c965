import Clocks
import MetricsTestKit
import Synchronization
import Testing

@testable import PhalanxResilience

@Suite struct CircuitBreakerTests {
    static func makeBreaker(
        clock: TestClock<Duration>, metrics: TestMetrics = TestMetrics(), probes: Int = 3
    ) throws -> CircuitBreaker<TestClock<Duration>> {
        var configuration = CircuitBreakerConfiguration()
        configuration.slidingWindow = .countBased(size: 4)
        configuration.minimumNumberOfCalls = 4
        configuration.waitDurationInOpenState = .seconds(30)
        configuration.permittedNumberOfCallsInHalfOpenState = probes
        configuration.probePermitTimeout = .seconds(10)
        return try CircuitBreaker(name: "payments", configuration: configuration, clock: clock, logger: quietLogger, metricsFactory: metrics)
    }

    static func open(_ breaker: CircuitBreaker<TestClock<Duration>>) async {
        for _ in 0..<4 { _ = try? await breaker.run { throw SystemFailure() } }
    }

    @Test func systemFailuresOpenItAndOpenFailsFastWithCircuitOpen() async throws {
        let clock = TestClock()
        let metrics = TestMetrics()
        let breaker = try Self.makeBreaker(clock: clock, metrics: metrics)
        await Self.open(breaker)
        #expect(breaker.state == .open)
        #expect(try metrics.expectGauge("phalanx_circuit_breaker_state", [("name", "payments")]).lastValue == 1)
        var ran = false
        await #expect {
            try await breaker.run { ran = true }
        } throws: { error in
            let context = error as? ErrorContext
            return context?.code == .circuitOpen && context?.message.contains("payments") == true
        }
        #expect(!ran)
    }

    @Test func businessFailuresNeverCount() async throws {
        let clock = TestClock()
        let breaker = try Self.makeBreaker(clock: clock)
        for _ in 0..<20 { _ = try? await breaker.run { throw BusinessFailure() } }
        #expect(breaker.state == .closed)
    }

    @Test func publishesTransitionsOnItsEventStream() async throws {
        let clock = TestClock()
        let breaker = try Self.makeBreaker(clock: clock, probes: 1)
        await Self.open(breaker)
        await clock.advance(by: .seconds(30))
        try await breaker.run {}
        var iterator = breaker.events.makeAsyncIterator()
        var seen: [CircuitState] = []
        for _ in 0..<3 { if let event = await iterator.next() { seen.append(event.to) } }
        #expect(seen == [.open, .halfOpen, .closed])
    }

    @Test func concurrentCallersRacingIntoHalfOpenGetExactlyThePermittedProbes() async throws {
        let clock = TestClock()
        let breaker = try Self.makeBreaker(clock: clock, probes: 3)
        await Self.open(breaker)
        await clock.advance(by: .seconds(30))
        let admitted = Locked(0)
        let gate = AsyncStream<Void>.makeStream()
        // 200 concurrent callers; the admitted ones block until the gate opens.
        let rejected = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    do {
                        try await breaker.run {
                            admitted.withLock { $0 += 1 }
                            for await _ in gate.stream {}
                        }
                        return false
                    } catch {
                        return (error as? ErrorContext)?.code == .circuitOpen
                    }
                }
            }
            // Everyone but the probes comes back rejected before the gate opens.
            var rejectedCount = 0
            for _ in 0..<197 { if await group.next() == true { rejectedCount += 1 } }
            gate.continuation.finish()
            for await result in group where result { rejectedCount += 1 }
            return rejectedCount
        }
        #expect(admitted.value == 3)
        #expect(rejected == 197)
        #expect(breaker.state == .closed)
    }

    @Test func cancelledProbeReleasesItsPermit() async throws {
        let clock = TestClock()
        let breaker = try Self.makeBreaker(clock: clock, probes: 1)
        await Self.open(breaker)
        await clock.advance(by: .seconds(30))
        let started = AsyncStream<Void>.makeStream()
        let probe = Task {
            try await breaker.run {
                started.continuation.yield()
                try await clock.sleep(for: .seconds(3_600))  // hangs until cancelled
            }
        }
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        // The only probe slot is taken.
        await #expect(throws: ErrorContext.self) { try await breaker.run {} }
        probe.cancel()
        _ = await probe.result
        // Its permit came back: the next call is a probe, and it closes the breaker.
        try await breaker.run {}
        #expect(breaker.state == .closed)
    }

    @Test func probeThatNeverReportsIsReclaimedAfterItsTimeout() async throws {
        let clock = TestClock()
        let breaker = try Self.makeBreaker(clock: clock, probes: 1)
        await Self.open(breaker)
        await clock.advance(by: .seconds(30))
        let lost = try breaker.acquirePermission()  // never reported back
        #expect(lost.isProbe)
        #expect(throws: ErrorContext.self) { try breaker.acquirePermission() }
        await clock.advance(by: .seconds(10))
        try await breaker.run {}
        #expect(breaker.state == .closed)
    }

    @Test func slowCallsAreMeasuredOnTheInjectedClock() async throws {
        let clock = TestClock()
        var configuration = CircuitBreakerConfiguration()
        configuration.slidingWindow = .countBased(size: 2)
        configuration.minimumNumberOfCalls = 2
        configuration.slowCallDurationThreshold = .seconds(1)
        configuration.slowCallRateThreshold = 100
        let breaker = try CircuitBreaker(name: "slow", configuration: configuration, clock: clock, logger: quietLogger, metricsFactory: TestMetrics())
        for _ in 0..<2 {
            let call = Task { try await breaker.run { try await clock.sleep(for: .seconds(2)) } }
            try await waitForSleeper(on: clock)
            await clock.advance(by: .seconds(2))
            try await call.value
        }
        #expect(breaker.state == .open)
    }
}
