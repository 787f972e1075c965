import Logging
import Metrics
import Synchronization

/// A state change of a named breaker, as published on ``CircuitBreaker/events``.
public struct CircuitBreakerEvent: Sendable, Hashable {
    public let name: String
    public let from: CircuitState
    public let to: CircuitState
}

/// Layer 2: a circuit breaker guarding calls to one dependency (or, in the coordinator, one worker).
///
/// The decisions are made by a ``CircuitBreakerMachine`` behind a lock (no actor hop on the hot
/// path). ``run(_:)`` fails fast with `CIRCUIT_OPEN` while the breaker is open; state changes are
/// published on ``events``, logged, and exported as the gauge `phalanx_circuit_breaker_state{name}`
/// (0 closed, 1 open, 2 half-open).
public final class CircuitBreaker<C: Clock>: Sendable where C.Duration == Duration {
    /// The gauge that exports every breaker's state.
    public static var stateMetric: String { "phalanx_circuit_breaker_state" }

    public let name: String
    /// Every state change, newest kept when nobody reads (the last 100).
    public let events: AsyncStream<CircuitBreakerEvent>

    private let configuration: CircuitBreakerConfiguration
    private let clock: C
    private let origin: C.Instant
    private let machine: Mutex<CircuitBreakerMachine>
    private let eventSink: AsyncStream<CircuitBreakerEvent>.Continuation
    private let stateGauge: Gauge
    private let failureHandler: FailureHandler
    private let logger: Logger

    /// A breaker named `name`; the configuration is validated first.
    public init(
        name: String,
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        clock: C,
        failureHandler: FailureHandler = FailureHandler(),
        logger: Logger = Logger(label: "phalanx.circuit-breaker"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(ErrorContext) {
        try configuration.validate()
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.origin = clock.now
        self.machine = Mutex(CircuitBreakerMachine(configuration: configuration))
        (self.events, self.eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(100))
        self.stateGauge = Gauge(label: Self.stateMetric, dimensions: [("name", name)], factory: metricsFactory)
        self.failureHandler = failureHandler
        self.logger = logger
        stateGauge.record(CircuitState.closed.gaugeValue)
    }

    deinit {
        eventSink.finish()
    }

    /// The current state.
    public var state: CircuitState { machine.withLock { $0.state } }

    /// Runs `operation` through the breaker: fails fast with `CIRCUIT_OPEN` while open, otherwise
    /// records the outcome (system failures count against the breaker, business ones do not;
    /// a cancelled call gives its permit back without an outcome).
    public func run<Success>(
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> Success
    ) async throws -> Success {
        let permit = try acquirePermission()
        let start = clock.now
        do {
            let value = try await operation()
            recordSuccess(permit, duration: start.duration(to: clock.now))
            return value
        } catch {
            recordFailure(permit, error: error, duration: start.duration(to: clock.now))
            throw error
        }
    }

    /// Asks for permission to make one call; throws `CIRCUIT_OPEN` (with the breaker's name and
    /// when to retry) if refused. Report the permit back with ``recordSuccess(_:duration:)``,
    /// ``recordFailure(_:error:duration:)`` or ``release(_:)``.
    public func acquirePermission() throws(ErrorContext) -> CircuitBreakerPermit {
        let now = elapsed()
        let (decision, transition) = machine.withLock { $0.acquirePermission(now: now) }
        if let transition { publish(transition) }
        switch decision {
        case .permitted(let permit):
            return permit
        case .rejected(let retryAfter):
            throw failureHandler.context(
                for: PhalanxError(
                    .circuitOpen,
                    "circuit breaker '\(name)' is \(state.rawValue): calls fail fast; retry after \(retryAfter)"))
        }
    }

    /// Reports a successful call.
    public func recordSuccess(_ permit: CircuitBreakerPermit, duration: Duration) {
        complete(permit, outcome: .success, duration: duration)
    }

    /// Reports a failed call; whether it counts against the breaker depends on its class and code.
    public func recordFailure(_ permit: CircuitBreakerPermit, error: any Error, duration: Duration) {
        let context = failureHandler.context(for: error)
        if context.code == .cancelled || Task.isCancelled {
            release(permit)
            return
        }
        let outcome: CircuitBreakerMachine.Outcome = configuration.recordsFailure(context) ? .failure : .success
        complete(permit, outcome: outcome, duration: duration)
    }

    /// Gives a permit back without an outcome (the call was cancelled or abandoned).
    public func release(_ permit: CircuitBreakerPermit) {
        machine.withLock { $0.release(permit) }
    }

    private func complete(_ permit: CircuitBreakerPermit, outcome: CircuitBreakerMachine.Outcome, duration: Duration) {
        let now = elapsed()
        let transition = machine.withLock { $0.record(permit, outcome: outcome, duration: duration, now: now) }
        if let transition { publish(transition) }
    }

    private func elapsed() -> Duration { origin.duration(to: clock.now) }

    private func publish(_ transition: CircuitBreakerMachine.Transition) {
        stateGauge.record(transition.to.gaugeValue)
        logger.notice(
            "circuit breaker state changed",
            metadata: ["breaker": "\(name)", "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)"])
        eventSink.yield(CircuitBreakerEvent(name: name, from: transition.from, to: transition.to))
    }
}
