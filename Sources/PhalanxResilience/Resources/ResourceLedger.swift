import Metrics
import Synchronization

/// Counts open resources per kind, so that a leak is visible (gauge `phalanx_resources_open{kind}`)
/// and testable (``openCount(_:)`` returns to zero when every scope has ended).
public final class ResourceLedger: Sendable {
    /// The gauge that exports the open resources of each kind.
    public static let openMetric = "phalanx_resources_open"

    private let counts = Mutex<[String: Int]>([:])
    private let metricsFactory: any MetricsFactory

    public init(metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.metricsFactory = metricsFactory
    }

    /// Resources of `kind` open now.
    public func openCount(_ kind: String) -> Int { counts.withLock { $0[kind, default: 0] } }

    /// Every kind with its open count.
    public var snapshot: [String: Int] { counts.withLock { $0 } }

    func opened(_ kind: String) { adjust(kind, by: 1) }
    func closed(_ kind: String) { adjust(kind, by: -1) }

    private func adjust(_ kind: String, by delta: Int) {
        counts.withLock { counts in
            counts[kind, default: 0] += delta
            // Recorded under the lock: two updates racing outside it could leave a stale last value.
            Gauge(label: Self.openMetric, dimensions: [("kind", kind)], factory: metricsFactory).record(counts[kind]!)
        }
    }
}

/// Acquires a resource, runs `body` with it, and releases it on every path: success, a throw, or
/// cancellation. The resource is counted open in `ledger` from acquisition to release.
///
/// `release` runs even when the task is cancelled, so it should not depend on cancellation checks.
public func withResource<Resource, Success>(
    isolation: isolated (any Actor)? = #isolation,
    kind: String,
    ledger: ResourceLedger,
    acquire: () async throws -> Resource,
    release: (Resource) async -> Void,
    _ body: (Resource) async throws -> Success
) async throws -> Success {
    let resource = try await acquire()
    ledger.opened(kind)
    do {
        let result = try await body(resource)
        await release(resource)
        ledger.closed(kind)
        return result
    } catch {
        await release(resource)
        ledger.closed(kind)
        throw error
    }
}
