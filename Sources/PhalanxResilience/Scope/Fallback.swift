import Logging
import Metrics

/// Degradation: runs `fallback` when `primary` fails with one of `codes`, counting and logging it.
///
/// The default codes are the ones that mean "the primary path is protecting itself" (breaker open,
/// bulkhead full, deadline passed, overloaded). Other failures are rethrown, classified. Each
/// degradation increments `phalanx_degradations_total{name,code}`.
public func withFallback<Success>(
    isolation: isolated (any Actor)? = #isolation,
    name: String,
    on codes: Set<ErrorCode> = [.circuitOpen, .bulkheadFull, .deadlineExceeded, .overloaded],
    failureHandler: FailureHandler = FailureHandler(),
    logger: Logger = Logger(label: "phalanx.fallback"),
    metricsFactory: any MetricsFactory = MetricsSystem.factory,
    _ primary: () async throws -> Success,
    fallback: (ErrorContext) async throws -> Success
) async throws -> Success {
    do {
        return try await primary()
    } catch {
        let context = failureHandler.context(for: error)
        guard codes.contains(context.code) else { throw context }
        Counter(
            label: "phalanx_degradations_total",
            dimensions: [("name", name), ("code", context.code.rawValue)],
            factory: metricsFactory
        ).increment()
        logger.warning(
            "degraded to fallback",
            metadata: [
                "fallback": "\(name)", "code": "\(context.code.rawValue)", "reason": "\(context.message)",
                "trace_id": "\(context.traceID ?? "-")",
            ])
        return try await fallback(context)
    }
}
