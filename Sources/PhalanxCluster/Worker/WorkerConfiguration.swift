import Foundation
import PhalanxResilience
import PhalanxTransport

/// Everything a worker needs to start; filled from `cluster.conf`, environment and flags.
/// The worker's name and cluster come from its certificate.
public struct WorkerConfiguration: Sendable {
    public var coordinatorHost: String
    public var coordinatorPort: Int
    public var tls: TLSFiles
    public var limits: ConnectionLimits
    /// Tasks run at once (`worker.capacity`).
    public var capacity: Int
    /// Tasks held beyond `capacity`, waiting for a free slot (`worker.prefetch`): the coordinator
    /// dispatches up to `capacity + prefetch` to this worker, so its batches are larger and each
    /// task costs every node less. A prefetched task waits behind running ones (its deadline and
    /// a cancel still reach it there); 0 makes the coordinator wait for a free slot instead.
    public var prefetch = 0
    /// Payload bytes of the tasks dispatched to this worker at most, running and prefetched
    /// (`worker.max_in_flight_bytes`; 0: no bound). A worker with nothing in flight always gets a task.
    public var maximumInFlightBytes = 0
    /// Tasks the coordinator may have dispatched to this worker at once.
    public var window: Int { capacity + prefetch }
    /// Results waiting to be sent are flushed at this many (`worker.result_batch`).
    public var resultBatchSize: Int
    /// First wait before reconnecting after the coordinator is lost; it doubles, with jitter, up to 10×.
    public var reconnectDelay: Duration
    /// On drain, running tasks may finish within this; the rest are handed back (`worker.drain_grace_ms`).
    public var drainGrace: Duration
    /// Tasks of a kind run at once at most (`[bulkheads]`, kind = limit); kinds not listed share `capacity`.
    public var bulkheads: [String: Int]
    /// This process's incarnation (nil: its start time in microseconds since 1970, see
    /// ``newIncarnation()``). A restart gets a newer one; the coordinator refuses older ones.
    public var incarnation: UInt64?
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`metrics.worker_address`; nil: nowhere).
    public var metricsAddress: OpsAddress?
    /// Log a `span` line per task run (`log.spans`).
    public var logsSpans = false
    /// The folder under which each worker keeps its participant store, in a folder of its name
    /// (`worker.data_dir`; the store is `DIR/NAME/participant.sqlite`).
    public var dataDirectory = "run/workers"
    /// The cluster the worker's certificate must name (`cluster.name`); nil: any (the coordinator
    /// checks it anyway, and refuses a certificate of another cluster in the handshake).
    public var cluster: String?
    /// The participant's history of outcomes is kept this long (`coordinator.retention_ms`, the
    /// decision log's retention too), then pruned.
    public var historyRetention: Duration = .seconds(7 * 86_400)
    /// Go on with a participant store that is not the one the coordinator knows for this worker
    /// (its values and in-doubt transactions are lost): `phalanx worker --accept-new-store`.
    public var acceptsNewStore = false

    /// The participant store's folder for the worker named `name`.
    public func participantDirectory(for name: String) -> String { "\(dataDirectory)/\(name)" }

    public init(
        coordinatorHost: String, coordinatorPort: Int, tls: TLSFiles, limits: ConnectionLimits = ConnectionLimits(),
        capacity: Int = 64, resultBatchSize: Int = 256, reconnectDelay: Duration = .milliseconds(500),
        drainGrace: Duration = .seconds(30), bulkheads: [String: Int] = [:]
    ) {
        self.coordinatorHost = coordinatorHost
        self.coordinatorPort = coordinatorPort
        self.tls = tls
        self.limits = limits
        self.capacity = capacity
        self.resultBatchSize = resultBatchSize
        self.reconnectDelay = reconnectDelay
        self.drainGrace = drainGrace
        self.bulkheads = bulkheads
    }

    /// A fresh incarnation: the time now in microseconds since 1970, so a restarted process has a newer one.
    public static func newIncarnation() -> UInt64 {
        UInt64(max(1, Date().timeIntervalSince1970 * 1_000_000))
    }

    /// Reconnection delays: doubling from `reconnectDelay` up to 10×, with equal jitter (half fixed,
    /// half random) so that workers cut off together do not all come back at the same instants.
    public var reconnectPolicy: RetryPolicy {
        RetryPolicy(maxAttempts: .max, initialBackoff: reconnectDelay, maxBackoff: reconnectDelay * 10, multiplier: 2, jitter: .equal)
    }
}
