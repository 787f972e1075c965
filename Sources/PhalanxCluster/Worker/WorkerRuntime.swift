import Logging
import NIOCore
import PhalanxCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// A worker: connects to the coordinator, registers its task kinds and capacity, runs the tasks
/// it is given inside a ``TaskBoundary`` (classified failures, trace ids in logs, deadlines), and
/// sends results back in batches. If the coordinator goes away it reconnects and registers again.
public struct WorkerRuntime: Sendable {
    public let configuration: WorkerConfiguration
    public let handlers: TaskHandlerRegistry
    private let logger: Logger

    public init(configuration: WorkerConfiguration, handlers: TaskHandlerRegistry = .builtIn, logger: Logger = Logger(label: "phalanx.worker")) {
        self.configuration = configuration
        self.handlers = handlers
        self.logger = logger
    }

    /// Runs until cancelled. Throws at once if the TLS material is unusable.
    public func run() async throws {
        let tlsContext = try configuration.tls.makeClientContext()
        let local = try configuration.tls.localIdentity()
        guard local.role == .worker else {
            throw ErrorContext(
                code: .invalidArgument,
                message: "\(configuration.tls.certificatePath) is a \(local.role.rawValue) certificate (\(local.uri)); a worker needs a worker certificate")
        }
        var delay = configuration.reconnectDelay
        while !Task.isCancelled {
            do {
                let (peer, _) = try await PhalanxDialer.connect(
                    host: configuration.coordinatorHost, port: configuration.coordinatorPort, tlsContext: tlsContext,
                    local: local, limits: configuration.limits, logger: logger)
                delay = configuration.reconnectDelay
                // The connection's task runs on its event loop (no hop per message); handlers do not.
                try await withTaskExecutorPreference(EventLoopTaskExecutor(peer.channel.channel.eventLoop)) {
                    try await serve(peer, local: local)
                }
                logger.warning("the coordinator closed the connection; reconnecting")
            } catch let error as ErrorContext where error.code == .permissionDenied || error.code == .clusterMismatch
                || error.code == .versionMismatch || error.code == .unauthenticated || error.code == .invalidArgument
            {
                throw error  // retrying cannot fix these
            } catch {
                logger.warning("not connected to the coordinator; retrying", metadata: ["reason": "\(error)", "retry_in": "\(delay)"])
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, configuration.reconnectDelay * 10)
        }
    }

    private func serve(_ peer: PeerChannel, local: NodeIdentity) async throws {
        let channel = peer.channel.channel
        let batcher = ResultBatcher(channel: channel, batchSize: configuration.resultBatchSize)
        let boundary = TaskBoundary(failureHandler: FailureHandler(node: local.name), logger: logger)
        var registration = Phalanx_V1_RegisterWorker()
        registration.capacity = UInt32(configuration.capacity)
        registration.kinds = handlers.kinds
        let envelope = Phalanx_V1_Envelope(.register(registration))
        try await peer.channel.executeThenClose { inbound, outbound in
            try await outbound.write(envelope)
            try await withThrowingDiscardingTaskGroup { group in
                for try await message in inbound {
                    switch message.body {
                    case .registered(let registered):
                        logger.info("registered with the coordinator", metadata: ["kinds": "\(handlers.kinds)", "capacity": "\(configuration.capacity)"])
                        let interval = Duration.milliseconds(max(50, Int(registered.heartbeatIntervalMs)))
                        group.addTask { try await Self.sendHeartbeats(every: interval, on: channel) }
                    case .dispatch(let batch):
                        await batcher.started(batch.assignments.count)
                        var seeds = TraceIDGenerator()  // one system draw per batch, not per task
                        for assignment in batch.assignments {
                            let ids = TraceIDGenerator(seed: seeds.next())
                            group.addTask(executorPreference: globalConcurrentExecutor) {
                                let result = await run(assignment, boundary: boundary, worker: local.name, ids: ids)
                                await batcher.add(result)
                            }
                        }
                    default:
                        break
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func run(
        _ assignment: Phalanx_V1_Assignment, boundary: TaskBoundary, worker: String, ids: TraceIDGenerator
    ) async -> Phalanx_V1_TaskResult {
        let spec = assignment.task
        var result = Phalanx_V1_TaskResult()
        result.taskID = spec.taskID
        result.attempt = assignment.attempt
        result.worker = worker
        var ids = ids
        let trace = TraceContext(traceID: spec.trace.traceID, spanID: spec.trace.spanID)?.childSpan(using: &ids) ?? .newTrace(using: &ids)
        let input = TaskInput(taskID: spec.taskID, attempt: assignment.attempt, kind: spec.kind, payload: Array(spec.payload))
        do {
            let output = try await boundary.run(taskID: spec.taskID, attempt: Int(assignment.attempt), trace: trace) {
                guard let handler = handlers.handler(for: spec.kind) else {
                    throw PhalanxError(.invalidArgument, "this worker does not serve task kind '\(spec.kind)'")
                }
                guard let remaining = WireTime.remaining(untilUnixMilliseconds: spec.deadlineUnixMs) else {
                    return try await handler(input)
                }
                return try await withTimeout(remaining, on: ContinuousClock()) { try await handler(input) }
            }
            result.output = .init(output)
        } catch {
            result.error = error.wire
        }
        return result
    }

    private static func sendHeartbeats(every interval: Duration, on channel: any Channel) async throws {
        while true {
            try await Task.sleep(for: interval)
            let envelope = Phalanx_V1_Envelope(.heartbeat(Phalanx_V1_Heartbeat()))
            try await channel.writeAndFlush(envelope)
        }
    }
}
