/// The three states of a circuit breaker.
public enum CircuitState: String, Sendable, Hashable, CaseIterable {
    /// Calls flow; outcomes are recorded in the sliding window.
    case closed
    /// Calls fail fast with `CIRCUIT_OPEN` until the wait in open state is over.
    case open
    /// A fixed number of probe calls go through; their outcomes decide the next state.
    case halfOpen = "half_open"

    /// The value exported by the `phalanx_circuit_breaker_state` gauge.
    public var gaugeValue: Int {
        switch self {
        case .closed: 0
        case .open: 1
        case .halfOpen: 2
        }
    }
}

/// A permission to make one call through a breaker; report it back with its outcome or release it.
public struct CircuitBreakerPermit: Sendable, Hashable {
    let id: UInt64
    let generation: UInt64
    /// Whether this call is one of half-open's probes.
    public let isProbe: Bool
}

/// The decision logic of a circuit breaker, as a pure value: events in, decisions and transitions out.
///
/// Time is the elapsed `Duration` since an origin the owner picks, passed in with every event; the
/// machine reads no clock. Every state change starts a new generation, and outcomes reported for a
/// permit of an older generation are ignored, so a slow call started before the breaker opened
/// cannot decide a later half-open round.
public struct CircuitBreakerMachine: Sendable {
    /// The answer to a request for permission.
    public enum Decision: Sendable, Hashable {
        case permitted(CircuitBreakerPermit)
        /// Rejected; the breaker expects to let calls through again after `retryAfter` at the earliest.
        case rejected(retryAfter: Duration)
    }

    /// How a permitted call ended, as far as the breaker is concerned.
    public enum Outcome: Sendable, Hashable {
        case success
        case failure
    }

    /// A change of state, reported so that the owner can publish it.
    public struct Transition: Sendable, Hashable {
        public let from: CircuitState
        public let to: CircuitState
    }

    private struct HalfOpenRound: Sendable {
        var outstanding: [UInt64: Duration] = [:]  // probe permit id → when it was issued
        var completed = CallOutcomeCounts()
    }

    private enum State: Sendable {
        case closed
        case open(until: Duration)
        case halfOpen
    }

    public let configuration: CircuitBreakerConfiguration
    private var machineState: State = .closed
    // Kept outside the state enum so that recording an outcome updates them in place (no copy).
    private var window: OutcomeWindow
    private var round = HalfOpenRound()
    private var generation: UInt64 = 0
    private var nextPermitID: UInt64 = 0

    public init(configuration: CircuitBreakerConfiguration) {
        self.configuration = configuration
        self.window = OutcomeWindow(configuration.slidingWindow)
    }

    /// The current state.
    public var state: CircuitState {
        switch machineState {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// Asks to make one call at `now`; may move open to half-open when the wait is over.
    public mutating func acquirePermission(now: Duration) -> (Decision, Transition?) {
        switch machineState {
        case .closed:
            return (.permitted(makePermit(isProbe: false)), nil)
        case .open(let until):
            guard now >= until else { return (.rejected(retryAfter: until - now), nil) }
            let transition = move(to: .halfOpen)
            let (decision, _) = acquirePermission(now: now)
            return (decision, transition)
        case .halfOpen:
            // Take back probes whose callers never reported, so half-open cannot stick.
            for (id, issuedAt) in round.outstanding where now - issuedAt >= configuration.probePermitTimeout {
                round.outstanding[id] = nil
            }
            guard round.outstanding.count + round.completed.calls < configuration.permittedNumberOfCallsInHalfOpenState else {
                let oldest = round.outstanding.values.min() ?? now
                return (.rejected(retryAfter: max(.zero, oldest + configuration.probePermitTimeout - now)), nil)
            }
            let permit = makePermit(isProbe: true)
            round.outstanding[permit.id] = now
            return (.permitted(permit), nil)
        }
    }

    /// Reports how a permitted call ended at `now`, after running for `duration`.
    public mutating func record(
        _ permit: CircuitBreakerPermit, outcome: Outcome, duration: Duration, now: Duration
    ) -> Transition? {
        guard permit.generation == generation else { return nil }
        let failed = outcome == .failure
        let slow = duration >= configuration.slowCallDurationThreshold
        switch machineState {
        case .closed:
            window.record(failed: failed, slow: slow, at: now)
            let counts = window.counts(at: now)
            let minimumCalls = min(configuration.minimumNumberOfCalls, window.capacity ?? Int.max)
            guard counts.calls >= minimumCalls, exceedsThresholds(counts) else { return nil }
            return move(to: .open(until: now + configuration.waitDurationInOpenState))
        case .open:
            return nil
        case .halfOpen:
            guard round.outstanding.removeValue(forKey: permit.id) != nil else { return nil }
            round.completed.add(failed: failed, slow: slow)
            guard round.completed.calls >= configuration.permittedNumberOfCallsInHalfOpenState else { return nil }
            if exceedsThresholds(round.completed) {
                return move(to: .open(until: now + configuration.waitDurationInOpenState))
            }
            return move(to: .closed)
        }
    }

    /// Gives a permit back without an outcome (its caller was cancelled): a probe's slot opens again.
    public mutating func release(_ permit: CircuitBreakerPermit) {
        guard permit.generation == generation, case .halfOpen = machineState else { return }
        round.outstanding[permit.id] = nil
    }

    private func exceedsThresholds(_ counts: CallOutcomeCounts) -> Bool {
        counts.failureRate >= configuration.failureRateThreshold || counts.slowCallRate >= configuration.slowCallRateThreshold
    }

    private mutating func makePermit(isProbe: Bool) -> CircuitBreakerPermit {
        nextPermitID &+= 1
        return CircuitBreakerPermit(id: nextPermitID, generation: generation, isProbe: isProbe)
    }

    private mutating func move(to next: State) -> Transition {
        let from = state
        machineState = next
        switch next {
        case .closed: window = OutcomeWindow(configuration.slidingWindow)
        case .halfOpen: round = HalfOpenRound()
        case .open: break
        }
        generation &+= 1
        return Transition(from: from, to: state)
    }
}
