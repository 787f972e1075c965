import PhalanxResilience

/// What the coordinator machine asks its shell to do, in order.
///
/// "Durable before visible" is an ordering of these: when the task ledger comes, a persist action
/// goes before ``acknowledge(_:requestID:accepted:)`` and the shell performs the acknowledgement
/// only after the write is durable.
public enum CoordinatorAction<Spec: Sendable, Output: Sendable>: Sendable {
    /// Tell the client its batch was accepted whole (`accepted` tasks, each will get one result).
    case acknowledge(ConnectionID, requestID: UInt64, accepted: Int)
    /// Tell the client its batch was refused whole; nothing of it was accepted.
    case refuse(ConnectionID, requestID: UInt64, ErrorContext)
    /// Send these attempts to the worker (the shell cuts frames by bytes).
    case dispatch(ConnectionID, [TaskAssignment<Spec>])
    /// Send these finished tasks to the client that submitted them (the shell cuts frames by bytes).
    case deliver(ConnectionID, [TaskDelivery<Output>])
    /// Confirm a worker's registration.
    case confirmRegistration(ConnectionID, worker: String, heartbeatInterval: Duration)
    /// Answer a heartbeat with a heartbeat (keeps the other end's idle timer quiet).
    case answerHeartbeat(ConnectionID)
    /// Send the cluster's status.
    case sendStatus(ConnectionID, CoordinatorStatus)
    /// Answer a breaker command.
    case sendBreakers(ConnectionID, [WorkerBreakerStatus], ErrorContext?)
    /// Answer a drain request.
    case sendDrainReply(ConnectionID, ErrorContext?)
    /// Ask a worker to drain and stop.
    case requestDrain(ConnectionID, requestedBy: String)
    /// Send an Error frame with this context, then close.
    case close(ConnectionID, ErrorContext)
    /// Whether the connection's idle timeout is suspended (true while the peer waits for work).
    case holdIdleTimeout(ConnectionID, Bool)
    /// Call ``CoordinatorMachine/wakeUp(now:)`` at this time (replaces a later wake-up).
    case scheduleWakeUp(at: Duration)
    /// Write a log line.
    case log(CoordinatorLogEntry)
}

/// One attempt of one task handed to one worker.
public struct TaskAssignment<Spec: Sendable>: Sendable {
    public let task: TaskNumber
    public let attempt: UInt32
    public let spec: Spec
}

/// One finished task on its way to the client that submitted it.
public struct TaskDelivery<Output: Sendable>: Sendable {
    /// The client's own task id.
    public let taskID: String
    public let attempt: UInt32
    /// The worker that ran the final attempt (nil when the task never ran).
    public let worker: String?
    public let outcome: Outcome

    /// How the task ended.
    public enum Outcome: Sendable {
        /// As the worker reported it.
        case reported(Output)
        /// A failure decided by the coordinator (deadline passed in the queue, workers lost, ...).
        case failure(ErrorContext)
    }
}

/// A log line the machine asks for (the machine itself has no logger).
public struct CoordinatorLogEntry: Sendable, Hashable {
    public enum Level: Sendable, Hashable {
        case debug, info, notice, warning, error
    }

    public let level: Level
    public let message: String
    public let metadata: [String: String]

    public init(_ level: Level, _ message: String, _ metadata: [String: String] = [:]) {
        self.level = level
        self.message = message
        self.metadata = metadata
    }
}

/// The coordinator's view of the cluster, for `phalanx status`.
public struct CoordinatorStatus: Sendable, Hashable {
    public struct Worker: Sendable, Hashable {
        public let name: String
        public let capacity: Int
        public let inFlight: Int
        public let kinds: [String]
        public let finished: Int
        public let breaker: String
        public let draining: Bool
    }

    public let workers: [Worker]
    public let accepted: UInt64
    public let succeeded: UInt64
    public let failed: UInt64
    public let expired: UInt64
    public let queued: Int
    public let running: Int
    public let heldBytes: Int
    public let clients: Int
}

/// One worker's breaker, for `phalanx breaker list`.
public struct WorkerBreakerStatus: Sendable, Hashable {
    public let worker: String
    /// closed, open, half_open or forced_open.
    public let state: String
}
