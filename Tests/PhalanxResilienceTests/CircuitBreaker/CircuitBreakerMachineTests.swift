import Testing

@testable import PhalanxResilience

@Suite struct CircuitBreakerMachineTests {
    static func configuration(
        window: CircuitBreakerConfiguration.SlidingWindow = .countBased(size: 4),
        minimumCalls: Int = 4,
        probes: Int = 2
    ) -> CircuitBreakerConfiguration {
        var configuration = CircuitBreakerConfiguration()
        configuration.slidingWindow = window
        configuration.minimumNumberOfCalls = minimumCalls
        configuration.failureRateThreshold = 50
        configuration.slowCallRateThreshold = 50
        configuration.slowCallDurationThreshold = .seconds(2)
        configuration.waitDurationInOpenState = .seconds(10)
        configuration.permittedNumberOfCallsInHalfOpenState = probes
        configuration.probePermitTimeout = .seconds(5)
        return configuration
    }

    /// Takes a permit at `now`, failing the test if none is given.
    static func permit(_ machine: inout CircuitBreakerMachine, at now: Duration = .zero) throws -> CircuitBreakerPermit {
        let (decision, _) = machine.acquirePermission(now: now)
        guard case .permitted(let permit) = decision else {
            Issue.record("expected a permit at \(now), got \(decision)")
            throw WaitError(what: "a permit")
        }
        return permit
    }

    static func call(
        _ machine: inout CircuitBreakerMachine, _ outcome: CircuitBreakerMachine.Outcome,
        duration: Duration = .milliseconds(1), at now: Duration = .zero
    ) throws -> CircuitBreakerMachine.Transition? {
        let permit = try permit(&machine, at: now)
        return machine.record(permit, outcome: outcome, duration: duration, now: now)
    }

    static func openedMachine() throws -> CircuitBreakerMachine {
        var machine = CircuitBreakerMachine(configuration: configuration())
        for outcome in [CircuitBreakerMachine.Outcome.failure, .failure, .success, .success] {
            _ = try call(&machine, outcome)
        }
        #expect(machine.state == .open)
        return machine
    }

    @Test func staysClosedBelowMinimumNumberOfCalls() throws {
        var machine = CircuitBreakerMachine(configuration: Self.configuration())
        for _ in 0..<3 { #expect(try Self.call(&machine, .failure) == nil) }
        #expect(machine.state == .closed)
        #expect(try Self.call(&machine, .failure) == .init(from: .closed, to: .open))
    }

    @Test func opensAtFailureRateThresholdNotBelow() throws {
        var machine = CircuitBreakerMachine(configuration: Self.configuration(window: .countBased(size: 4), minimumCalls: 4))
        // 1 of 4 failed: 25 % < 50 %.
        for outcome in [CircuitBreakerMachine.Outcome.failure, .success, .success, .success] {
            #expect(try Self.call(&machine, outcome) == nil)
        }
        #expect(machine.state == .closed)
        // The window slides: oldest (failure) leaves, a failure enters → 1/4, still closed.
        #expect(try Self.call(&machine, .failure) == nil)
        // Now 2/4 = 50 %: opens.
        #expect(try Self.call(&machine, .failure) == .init(from: .closed, to: .open))
    }

    @Test func slowCallsOpenTheBreaker() throws {
        var machine = CircuitBreakerMachine(configuration: Self.configuration())
        for duration in [Duration.seconds(3), .seconds(1), .seconds(1)] {
            #expect(try Self.call(&machine, .success, duration: duration) == nil)
        }
        #expect(try Self.call(&machine, .success, duration: .seconds(2)) == .init(from: .closed, to: .open))
    }

    @Test func openRejectsWithRetryAfterUntilTheWaitIsOver() throws {
        var machine = try Self.openedMachine()
        let (decision, transition) = machine.acquirePermission(now: .seconds(4))
        #expect(decision == .rejected(retryAfter: .seconds(6)))
        #expect(transition == nil)
        let (late, moved) = machine.acquirePermission(now: .seconds(10))
        guard case .permitted(let probe) = late else { Issue.record("no probe after the wait"); return }
        #expect(probe.isProbe)
        #expect(moved == .init(from: .open, to: .halfOpen))
        #expect(machine.state == .halfOpen)
    }

    @Test func halfOpenAdmitsExactlyThePermittedProbes() throws {
        var machine = try Self.openedMachine()
        let first = try Self.permit(&machine, at: .seconds(10))
        let second = try Self.permit(&machine, at: .seconds(10))
        let (third, _) = machine.acquirePermission(now: .seconds(10))
        #expect(third == .rejected(retryAfter: .seconds(5)))
        #expect(first.isProbe && second.isProbe)
    }

    @Test func halfOpenSuccessCloses() throws {
        var machine = try Self.openedMachine()
        let first = try Self.permit(&machine, at: .seconds(10))
        let second = try Self.permit(&machine, at: .seconds(10))
        #expect(machine.record(first, outcome: .success, duration: .zero, now: .seconds(11)) == nil)
        #expect(machine.record(second, outcome: .success, duration: .zero, now: .seconds(11)) == .init(from: .halfOpen, to: .closed))
        // A fresh window: three failures are below the minimum again.
        for _ in 0..<3 { #expect(try Self.call(&machine, .failure, at: .seconds(12)) == nil) }
        #expect(machine.state == .closed)
    }

    @Test func halfOpenFailureReopensForAnotherWait() throws {
        var machine = try Self.openedMachine()
        let first = try Self.permit(&machine, at: .seconds(10))
        let second = try Self.permit(&machine, at: .seconds(10))
        _ = machine.record(first, outcome: .failure, duration: .zero, now: .seconds(11))
        #expect(machine.record(second, outcome: .success, duration: .zero, now: .seconds(11)) == .init(from: .halfOpen, to: .open))
        #expect(machine.acquirePermission(now: .seconds(20)).0 == .rejected(retryAfter: .seconds(1)))
        #expect(machine.acquirePermission(now: .seconds(21)).1 == .init(from: .open, to: .halfOpen))
    }

    @Test func releasedProbeFreesItsSlot() throws {
        var machine = try Self.openedMachine()
        let first = try Self.permit(&machine, at: .seconds(10))
        _ = try Self.permit(&machine, at: .seconds(10))
        #expect(machine.acquirePermission(now: .seconds(10)).0 != .permitted(first))
        machine.release(first)
        let replacement = try Self.permit(&machine, at: .seconds(10))
        #expect(replacement.isProbe)
        // A released permit reported later changes nothing.
        #expect(machine.record(first, outcome: .failure, duration: .zero, now: .seconds(10)) == nil)
        #expect(machine.state == .halfOpen)
    }

    @Test func probeNeverReportedIsTakenBackAfterTimeout() throws {
        var machine = try Self.openedMachine()
        _ = try Self.permit(&machine, at: .seconds(10))
        _ = try Self.permit(&machine, at: .seconds(10))
        #expect(machine.acquirePermission(now: .seconds(14)).0 == .rejected(retryAfter: .seconds(1)))
        let fresh = try Self.permit(&machine, at: .seconds(15))
        #expect(fresh.isProbe)
    }

    @Test func outcomesOfAnOlderGenerationAreIgnored() throws {
        var machine = CircuitBreakerMachine(configuration: Self.configuration())
        let slowStarter = try Self.permit(&machine)
        for _ in 0..<4 { _ = try Self.call(&machine, .failure) }
        #expect(machine.state == .open)
        _ = try Self.permit(&machine, at: .seconds(10))
        #expect(machine.record(slowStarter, outcome: .success, duration: .zero, now: .seconds(10)) == nil)
        #expect(machine.state == .halfOpen)
    }

    @Test func timeBasedWindowForgetsOldCalls() throws {
        var machine = CircuitBreakerMachine(
            configuration: Self.configuration(window: .timeBased(duration: .seconds(10)), minimumCalls: 4))
        for second in 0..<3 { _ = try Self.call(&machine, .failure, at: .seconds(second)) }
        // 11 s later those three failures have left the window: one more failure is 1 call, below minimum.
        #expect(try Self.call(&machine, .failure, at: .seconds(14)) == nil)
        #expect(machine.state == .closed)
        for _ in 0..<2 { _ = try Self.call(&machine, .failure, at: .seconds(15)) }
        #expect(try Self.call(&machine, .success, at: .seconds(16)) == .init(from: .closed, to: .open))
    }

    @Test func minimumCallsIsCappedByACountWindowSize() throws {
        var machine = CircuitBreakerMachine(configuration: Self.configuration(window: .countBased(size: 2), minimumCalls: 100))
        _ = try Self.call(&machine, .failure)
        #expect(try Self.call(&machine, .failure) == .init(from: .closed, to: .open))
    }

    @Test func invalidConfigurationNamesTheSetting() {
        var configuration = CircuitBreakerConfiguration()
        configuration.permittedNumberOfCallsInHalfOpenState = 0
        #expect {
            try configuration.validate()
        } throws: { error in
            (error as? ErrorContext)?.message.contains("permittedNumberOfCallsInHalfOpenState") == true
        }
    }
}
