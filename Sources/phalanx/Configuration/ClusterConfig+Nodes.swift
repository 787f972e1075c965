import NIOCore
import PhalanxCore
import PhalanxCluster
import PhalanxResilience
import PhalanxTransport

extension ClusterConfig {
    /// The TLS files of node `name`: `<tls.dir>/ca.pem`, `<tls.dir>/NAME.pem`, `<tls.dir>/NAME-key.pem`.
    func tlsFiles(forNode name: String) -> TLSFiles {
        let directory = path("tls.dir")
        return TLSFiles(caCertificatePath: "\(directory)/ca.pem", certificatePath: "\(directory)/\(name).pem", privateKeyPath: "\(directory)/\(name)-key.pem")
    }

    var limits: ConnectionLimits {
        var limits = ConnectionLimits()
        limits.maximumFrameBytes = integer("limits.max_frame_bytes")
        limits.handshakeTimeout = .milliseconds(Int64(integer("limits.handshake_timeout_ms")))
        limits.frameCompletionTimeout = .milliseconds(Int64(integer("limits.frame_timeout_ms")))
        limits.idleTimeout = .milliseconds(Int64(integer("limits.idle_timeout_ms")))
        limits.sendBufferBytes = integer("limits.send_buffer_bytes")
        limits.clientInflightBytes = integer("limits.client_inflight_bytes")
        return limits
    }

    func coordinatorConfiguration(name: String) -> CoordinatorConfiguration {
        var breaker = CoordinatorSettings.defaultBreaker
        breaker.failureRateThreshold = Double(integer("breaker.failure_rate_percent"))
        breaker.slidingWindow = .countBased(size: integer("breaker.window_calls"))
        breaker.minimumNumberOfCalls = integer("breaker.minimum_calls")
        breaker.waitDurationInOpenState = .milliseconds(integer("breaker.open_ms"))
        breaker.permittedNumberOfCallsInHalfOpenState = integer("breaker.half_open_probes")
        var configuration = CoordinatorConfiguration(
            host: string("coordinator.host"), port: integer("coordinator.port"), tls: tlsFiles(forNode: name), limits: limits,
            maximumQueuedTasks: integer("coordinator.max_queued_tasks"), maximumQueuedBytes: integer("coordinator.max_queued_bytes"),
            heartbeatInterval: .milliseconds(integer("coordinator.heartbeat_interval_ms")),
            heartbeatMisses: integer("coordinator.heartbeat_misses"),
            maximumAttempts: UInt32(integer("coordinator.max_attempts")),
            admissionTasksPerSecond: integer("admission.tasks_per_second"), admissionBurst: integer("admission.burst"),
            breaker: breaker, slowReaderTimeout: .milliseconds(integer("limits.slow_reader_timeout_ms")),
            dataDirectory: path("coordinator.data_dir"), retention: .milliseconds(integer("coordinator.retention_ms")))
        configuration.retry = RetryPolicy(
            maxAttempts: integer("retry.max_attempts"), initialBackoff: .milliseconds(integer("retry.initial_backoff_ms")),
            maxBackoff: .milliseconds(max(integer("retry.max_backoff_ms"), integer("retry.initial_backoff_ms"))), jitter: .full)
        configuration.retryAttemptsPerKind = retries
        configuration.retryBudget = RetryBudgetSettings(
            ratio: Double(integer("retry.budget_percent")) / 100, minimumPerWindow: integer("retry.budget_minimum"),
            window: .milliseconds(integer("retry.budget_window_ms")))
        configuration.maximumIdempotencyKeys = integer("coordinator.idempotency_keys")
        configuration.acceptLinger = .microseconds(integer("coordinator.accept_linger_us"))
        configuration.metricsAddress = try? OpsAddress.parse(string("metrics.coordinator_address"), key: "metrics.coordinator_address")
        configuration.logsSpans = boolean("log.spans")
        configuration.transactionVoteTimeout = .milliseconds(integer("tx.vote_timeout_ms"))
        configuration.transactionResendInterval = .milliseconds(integer("tx.resend_interval_ms"))
        return configuration
    }

    func workerConfiguration(name: String) -> WorkerConfiguration {
        var configuration = WorkerConfiguration(
            coordinatorHost: string("coordinator.host"), coordinatorPort: integer("coordinator.port"), tls: tlsFiles(forNode: name),
            limits: limits, capacity: integer("worker.capacity"), resultBatchSize: integer("worker.result_batch"),
            drainGrace: .milliseconds(integer("worker.drain_grace_ms")), bulkheads: bulkheads)
        configuration.prefetch = integer("worker.prefetch")
        configuration.maximumInFlightBytes = integer("worker.max_in_flight_bytes")
        configuration.metricsAddress = try? OpsAddress.parse(string("metrics.worker_address"), key: "metrics.worker_address")
        configuration.logsSpans = boolean("log.spans")
        configuration.dataDirectory = path("worker.data_dir")
        configuration.cluster = string("cluster.name")
        configuration.historyRetention = .milliseconds(integer("coordinator.retention_ms"))
        return configuration
    }
}
