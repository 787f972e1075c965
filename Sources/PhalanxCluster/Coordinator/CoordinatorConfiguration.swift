import PhalanxCore
import PhalanxTransport

/// Everything a coordinator needs to start; filled from `cluster.conf`, environment and flags.
public struct CoordinatorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var tls: TLSFiles
    public var limits: ConnectionLimits
    /// The most tasks that may wait for a worker at once (`coordinator.max_queued_tasks`).
    public var maximumQueuedTasks: Int
    /// How often workers send heartbeats (`coordinator.heartbeat_interval_ms`).
    public var heartbeatInterval: Duration
    /// Heartbeats a worker may miss before it is declared dead (`coordinator.heartbeat_misses`).
    public var heartbeatMisses: Int
    /// Attempts a task gets when the workers running it are lost (`coordinator.max_attempts`).
    public var maximumAttempts: UInt32

    public init(
        host: String, port: Int, tls: TLSFiles, limits: ConnectionLimits = ConnectionLimits(),
        maximumQueuedTasks: Int = 1_000_000, heartbeatInterval: Duration = .seconds(1), heartbeatMisses: Int = 5,
        maximumAttempts: UInt32 = 3
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
        self.maximumQueuedTasks = maximumQueuedTasks
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatMisses = heartbeatMisses
        self.maximumAttempts = maximumAttempts
    }
}
