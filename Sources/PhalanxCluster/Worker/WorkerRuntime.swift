import Foundation
import Logging
import NIOCore
import NIOSSL
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTransport
import PhalanxWire
import ServiceLifecycle
import Tracing

/// A worker: connects to the coordinator, registers its task kinds and capacity, runs the tasks
/// it is given inside a ``TaskBoundary`` (classified failures, trace ids in logs, deadlines,
/// per-kind bulkheads), and sends results back in batches. If the coordinator goes away it
/// reconnects (backoff with jitter) and registers again.
///
/// On graceful shutdown (SIGTERM, SIGINT through a `ServiceGroup`) or a Drain from the coordinator
/// it drains: it tells the coordinator to send no more work, lets running tasks finish within
/// `drainGrace`, hands the rest back, and returns.
public struct WorkerRuntime: Service {
    public let configuration: WorkerConfiguration
    public let handlers: TaskHandlerRegistry
    /// The worker's own transaction participants (TCC), besides the built-in store.
    public let resources: [any TransactionalResource]
    private let logger: Logger
    private let onMetricsListening: @Sendable (Int) -> Void
    /// Logs a span per task run (`log.spans`); nil: no spans.
    private let tracer: SpanLogTracer?

    public init(
        configuration: WorkerConfiguration, handlers: TaskHandlerRegistry = .builtIn, resources: [any TransactionalResource] = [],
        logger: Logger = Logger(label: "phalanx.worker"), onMetricsListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.handlers = handlers
        self.resources = resources
        self.logger = logger
        self.onMetricsListening = onMetricsListening
        self.tracer = configuration.logsSpans ? SpanLogTracer(logger: Logger(label: "phalanx.span")) : nil
    }

    private enum SessionEnd {
        case connectionClosed
        case drained
    }

    /// Runs until drained or cancelled. Throws ``StartupError`` at once if the TLS material or the
    /// bulkhead settings are unusable, and an `ErrorContext` if the coordinator refuses this worker
    /// for a reason retrying cannot fix.
    public func run() async throws {
        let tlsContext: NIOSSLContext
        let local: NodeIdentity
        do {
            tlsContext = try configuration.tls.makeClientContext()
            local = try configuration.tls.localIdentity()
        } catch {
            throw StartupError(error)
        }
        var resourceNames = Set<String>()
        for resource in resources {
            let problem = ResourceOperation.problem(withName: resource.name)
            guard problem == nil, resourceNames.insert(resource.name).inserted else {
                throw StartupError(ErrorContext(
                    code: .invalidArgument,
                    message: "cannot register resource '\(resource.name)': \(problem ?? "another resource has that name"); give each resource its own name"))
            }
        }
        guard local.role == .worker else {
            throw StartupError(ErrorContext(
                code: .invalidArgument,
                message: "\(configuration.tls.certificatePath) is a \(local.role.rawValue) certificate (\(local.uri)); a worker needs a worker certificate"))
        }
        if let cluster = configuration.cluster, local.cluster != cluster {
            throw StartupError(ErrorContext(
                code: .invalidArgument,
                message: "\(configuration.tls.certificatePath) is \(local.uri), a certificate of cluster '\(local.cluster)'; cluster.name is '\(cluster)': a worker of it needs a certificate for phalanx://\(cluster)/worker/NAME"))
        }
        let slots = try HandlerSlots(configuration)
        if let problem = Failpoints.problem() { throw StartupError(ErrorContext(code: .invalidArgument, message: problem)) }
        let directory = configuration.participantDirectory(for: local.name)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StartupError(ErrorContext(code: .invalidArgument, message: "cannot create the participant store's folder \(directory): \(error); check worker.data_dir"))
        }
        let drain = DrainSignal()
        let incarnation = configuration.incarnation ?? WorkerConfiguration.newIncarnation()
        logger.info("worker starting", metadata: ["incarnation": "\(incarnation)"])
        let nodeMetrics = configuration.metricsAddress.map { _ in NodeMetrics() }
        let metrics = nodeMetrics.map { WorkerMetrics(factory: $0.factory, kinds: handlers.kinds, bulkheads: slots.perKind) }
        let participant = ParticipantHost(
            node: local.name, directory: directory, resources: resources, retention: configuration.historyRetention,
            acceptsNewStore: configuration.acceptsNewStore, logger: logger,
            availability: { [metrics] in metrics?.participantAvailable($0) })
        var ops: (server: OpsHTTPServer, endpoint: OpsEndpoint)?
        if configuration.metricsAddress == nil { logger.notice("metrics endpoint off (metrics.worker_address is empty)") }
        if let address = configuration.metricsAddress, let nodeMetrics, let metrics {
            let server = try await OpsEndpoint.bind(address, logger: logger)
            let endpoint = OpsEndpoint(metrics: nodeMetrics, refresh: { metrics.refresh() }) {
                if await drain.isRaised { return (false, "the worker is draining") }
                guard metrics.isRegistered else { return (false, "the worker is not registered with the coordinator") }
                if let problem = await participant.problem() { return (false, "its participant store is not available (it votes NO on every transaction): \(problem)") }
                return (true, "")
            }
            ops = (server, endpoint)
            onMetricsListening(server.port)
        }
        try await runSessions(
            tlsContext: tlsContext, local: local, incarnation: incarnation, drain: drain, slots: slots, metrics: metrics, participant: participant,
            ops: ops)
    }

    /// Serves sessions with the coordinator (and the ops endpoint) until drained or cancelled.
    private func runSessions(
        tlsContext: NIOSSLContext, local: NodeIdentity, incarnation: UInt64, drain: DrainSignal, slots: HandlerSlots,
        metrics: WorkerMetrics?, participant: ParticipantHost, ops: (server: OpsHTTPServer, endpoint: OpsEndpoint)?
    ) async throws {
        let logger = logger
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let ops { group.addTask { await ops.endpoint.serve(on: ops.server, logger: logger) } }
                defer { group.cancelAll() }
                try await connectAndServe(
                    tlsContext: tlsContext, local: local, incarnation: incarnation, drain: drain, slots: slots, metrics: metrics,
                    participant: participant)
            }
        } onGracefulShutdown: {
            Task { await drain.raise("graceful shutdown (SIGTERM or SIGINT)") }
        }
    }

    private func connectAndServe(
        tlsContext: NIOSSLContext, local: NodeIdentity, incarnation: UInt64, drain: DrainSignal, slots: HandlerSlots,
        metrics: WorkerMetrics?, participant: ParticipantHost
    ) async throws {
        var failures = 0
        while !Task.isCancelled {
            if await drain.isRaised {
                logger.notice("drained while not connected; stopping")
                return
            }
            do {
                let (peer, coordinator) = try await PhalanxDialer.connect(
                    host: configuration.coordinatorHost, port: configuration.coordinatorPort, tlsContext: tlsContext,
                    local: local, limits: configuration.limits, logger: logger)
                // However the session ends (closed, refused, lost), the worker is no longer registered.
                defer { metrics?.registered(false) }
                // The connection's task runs on its event loop (no hop per message); handlers do not.
                let end = try await withTaskExecutorPreference(EventLoopTaskExecutor(peer.channel.channel.eventLoop)) {
                    try await serve(
                        peer, coordinator: coordinator, local: local, incarnation: incarnation, drain: drain, slots: slots, metrics: metrics,
                        participant: participant)
                }
                failures = 0  // a session ended: reconnect soon (a refusal such as CONFLICT keeps backing off instead)
                if case .drained = end {
                    logger.notice("worker drained and stopped")
                    return
                }
                logger.warning("the coordinator closed the connection; reconnecting")
            } catch let error as ErrorContext where error.code == .conflict {
                logger.error("the coordinator refused this worker; retrying", metadata: ["reason": "\(error.message)"])
            } catch let error as ErrorContext
                where [.permissionDenied, .clusterMismatch, .versionMismatch, .unauthenticated, .invalidArgument, .superseded].contains(error.code)
            {
                throw error  // retrying cannot fix these
            } catch {
                logger.warning("not connected to the coordinator; retrying", metadata: ["reason": "\(error)"])
            }
            failures += 1
            let delay = configuration.reconnectPolicy.backoff(beforeRetry: failures, previous: .zero, random: Double.random(in: 0..<1))
            logger.info("reconnecting", metadata: ["in": "\(delay)"])
            // Sleep in slices so that a drain while disconnected ends the worker promptly.
            let wakeAt = ContinuousClock.now + delay
            while ContinuousClock.now < wakeAt, !(await drain.isRaised) {
                try await Task.sleep(for: min(.milliseconds(100), wakeAt - ContinuousClock.now))
            }
        }
    }

    private func serve(
        _ peer: PeerChannel, coordinator: EstablishedPeer, local: NodeIdentity, incarnation: UInt64, drain: DrainSignal,
        slots: HandlerSlots, metrics: WorkerMetrics?, participant: ParticipantHost
    ) async throws -> SessionEnd {
        let channel = peer.channel.channel
        let link = ChannelPeerLink(channel: channel, peer: coordinator)
        let session = WorkerSession(link: link, batchSize: configuration.resultBatchSize, worker: local.name)
        let spawner = ChildSpawner(link: link)
        let effects = TransactionSender(link: link)
        let boundary = TaskBoundary(failureHandler: FailureHandler(node: local.name), logger: logger)
        var registration = Phalanx_V1_RegisterWorker()
        registration.capacity = UInt32(configuration.capacity)
        registration.prefetch = UInt32(configuration.prefetch)
        registration.maxInFlightBytes = UInt64(configuration.maximumInFlightBytes)
        registration.kinds = handlers.kinds
        registration.incarnation = incarnation
        let envelope = Phalanx_V1_Envelope(.register(registration))
        let grace = configuration.drainGrace
        let logger = logger
        let node = local.name
        /// Once the connection ends the worker is not ready (while its handlers stop), and handlers
        /// that wait for a reply over it (an effect's outcome, children) get an error: before the
        /// task group waits for them, or it would wait forever.
        @Sendable func failWaitingHandlers() async {
            metrics?.registered(false)
            await spawner.connectionEnded(ErrorContext(code: .unavailable, message: "the connection to the coordinator ended", originNode: node))
            await effects.connectionEnded(ErrorContext(
                code: .unavailable, message: "the connection to the coordinator ended before the effect's outcome arrived", originNode: node))
        }
        try await peer.channel.executeThenClose { inbound, outbound in
            try await outbound.write(.envelope(envelope))
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    guard let reason = await drain.wait() else { return }
                    await Self.drain(session: session, grace: grace, reason: reason, logger: logger)
                    link.close(with: nil)  // after what the drain sent has left; ends the inbound loop below
                }
                do {
                    for try await message in inbound {
                        switch message.body {
                        case .registered(let registered):
                            logger.info(
                                "registered with the coordinator",
                                metadata: ["kinds": "\(handlers.kinds)", "capacity": "\(configuration.capacity)", "prefetch": "\(configuration.prefetch)"])
                            metrics?.registered(true)
                            var interval = Duration.milliseconds(max(50, Int(registered.heartbeatIntervalMs)))
                            if let keepAlive = coordinator.keepAliveInterval { interval = min(interval, keepAlive) }
                            group.addTask { await Self.sendHeartbeats(every: interval, over: link, participant: participant) }
                            // Before any transaction message (which would open the store too).
                            await participant.expect(
                                store: registered.participantStore.isEmpty
                                    ? nil : KnownParticipantStore(id: registered.participantStore, writes: Int64(clamping: registered.participantStoreWrites)))
                            // Opening the store must not hold up the dispatches behind this message.
                            group.addTask { await participant.open(over: link) }
                        case .dispatch(let batch):
                            if await session.isDraining {
                                await session.handBack(batch.assignments)
                                continue
                            }
                            var seeds = TraceIDGenerator()  // one system draw per batch, not per task
                            await session.started(batch.assignments)
                            for assignment in batch.assignments {
                                let ids = TraceIDGenerator(seed: seeds.next())
                                group.addTask(executorPreference: globalConcurrentExecutor) {
                                    // Registered while it runs, so that the coordinator can cancel this one handler.
                                    let (result, failure) = await session.handlers.run(assignment.dispatchID) {
                                        await run(
                                            assignment, boundary: boundary, worker: local.name, ids: ids, slots: slots, registry: session.handlers, spawner: spawner,
                                            effects: effects, metrics: metrics)
                                    }
                                    // A failure is logged and counted when its result is sent: an attempt
                                    // handed back on a drain was cancelled, not failed.
                                    if await session.finished(result), let failure { boundary.record(failure) }
                                }
                            }
                        case .spawnReply(let reply):
                            await spawner.replied(reply)
                        case .txReply(let reply):
                            await effects.replied(reply)
                        case .childResults(let frame):
                            await spawner.arrived(frame)
                        case .cancelAttempts(let cancel):
                            let found = await session.cancel(cancel.tasks)
                            logger.info("cancelling tasks at the coordinator's request", metadata: ["asked": "\(cancel.tasks.count)", "running": "\(found)"])
                        case .drain(let request):
                            await drain.raise("the coordinator asked on behalf of admin \(request.requestedBy)")
                        case .txPrepare, .txDecision, .snapshotRequest:
                            await participant.received(message, over: link)
                        default:
                            break  // heartbeats from the coordinator only keep the idle timer quiet
                        }
                    }
                } catch {
                    await failWaitingHandlers()
                    throw error
                }
                await failWaitingHandlers()
                group.cancelAll()
            }
        }
        await participant.close()  // what was queued is written; the store's lock is released
        await failWaitingHandlers()  // also when the connection failed before the loop began
        return await session.isDraining ? .drained : .connectionClosed
    }

    private static func drain(session: WorkerSession, grace: Duration, reason: String, logger: Logger) async {
        let inFlight = await session.runningCount
        logger.notice(
            "draining: no new tasks; running ones may finish, prefetched ones are handed back",
            metadata: ["reason": "\(reason)", "grace": "\(grace)", "in_flight": "\(inFlight)"])
        await session.beginDraining(grace: grace)
        let prefetched = await session.handBackWaiting()
        if prefetched > 0 { logger.notice("handed back the prefetched tasks that had not started", metadata: ["handed_back": "\(prefetched)"]) }
        let deadline = ContinuousClock.now + grace
        while await session.runningCount > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: min(.milliseconds(20), deadline - ContinuousClock.now))
        }
        let handedBack = await session.handBackRunning()
        logger.notice("drained", metadata: ["handed_back": "\(handedBack)"])
    }

    private func run(
        _ assignment: Phalanx_V1_Assignment, boundary: TaskBoundary, worker: String, ids: TraceIDGenerator,
        slots: HandlerSlots, registry: HandlerRegistry, spawner: ChildSpawner, effects: TransactionSender, metrics: WorkerMetrics?
    ) async -> (Phalanx_V1_TaskResult, failure: ErrorContext?) {
        let tracer = self.tracer
        let spec = assignment.task
        var result = Phalanx_V1_TaskResult()
        result.taskID = spec.taskID
        result.attempt = assignment.attempt
        result.dispatchID = assignment.dispatchID
        result.worker = worker
        var ids = ids
        let trace = TraceContext(traceID: spec.trace.traceID, spanID: spec.trace.spanID)?.childSpan(using: &ids) ?? .newTrace(using: &ids)
        let slot = HeldSlot(of: slots.worker)
        let start = HandlerStart()
        let children = ChildTasks(
            spawner: spawner, dispatchID: assignment.dispatchID, attempt: assignment.attempt, trace: trace, deadlineUnixMilliseconds: spec.deadlineUnixMs,
            slot: slot)
        let input = TaskInput(
            taskID: spec.taskID, attempt: assignment.attempt, kind: spec.kind, payload: Array(spec.payload), children: children,
            effects: TaskEffects(sender: effects, dispatchID: assignment.dispatchID, attempt: assignment.attempt))
        let started = ContinuousClock.now
        let span = tracer?.startSpan("run", context: .phalanxSpan(trace, parentSpanID: spec.trace.spanID.isEmpty ? nil : spec.trace.spanID), ofKind: .consumer)
        defer {
            var code: ErrorCode?
            if case .error(let error)? = result.outcome { code = ErrorCode(wire: error.code) }
            metrics?.finished(kind: spec.kind, elapsed: ContinuousClock.now - started, error: code)
            if let span {
                span.attributes["task_id"] = spec.taskID
                span.attributes["kind"] = spec.kind
                span.attributes["attempt"] = Int(assignment.attempt)
                span.attributes["worker"] = worker
                if case .error(let error)? = result.outcome { span.recordError(ErrorContext(wire: error)) }
                span.end()
            }
        }
        do {
            let output = try await boundary.run(taskID: spec.taskID, attempt: Int(assignment.attempt), trace: trace, recording: false) {
                guard let handler = handlers.handler(for: spec.kind) else {
                    throw PhalanxError(.invalidArgument, "this worker does not serve task kind '\(spec.kind)'")
                }
                // A prefetched task waits for a slot under its deadline, as its handler runs.
                let guarded: @Sendable () async throws -> [UInt8] = {
                    try await slots.run(kind: spec.kind, holding: slot) {
                        guard registry.admit(assignment.dispatchID) else {
                            throw ErrorContext(code: .cancelled, message: "handed back on a drain before it started", originNode: worker)
                        }
                        // Cancelled (or past its deadline) as it got its slot: it never starts.
                        try Task.checkCancellation()
                        start.mark()
                        metrics?.running.increment()
                        defer { metrics?.running.decrement() }
                        return try await handler(input)
                    }
                }
                guard let remaining = WireTime.remaining(untilUnixMilliseconds: spec.deadlineUnixMs) else {
                    return try await guarded()
                }
                return try await withTimeout(remaining, on: ContinuousClock()) { try await guarded() }
            }
            result.output = .init(output)
        } catch {
            result.error = error.wire
            // Ended waiting for a slot (its deadline, a cancel): not a failure of this worker's.
            result.neverStarted = !start.happened
            return (result, error)
        }
        return (result, nil)
    }

    /// Sends a heartbeat every `interval` until cancelled (the end of the connection), with why
    /// the participant store is not available, if it is not (shown by `phalanx status`).
    private static func sendHeartbeats(every interval: Duration, over link: some PeerLink, participant: ParticipantHost) async {
        while (try? await Task.sleep(for: interval)) != nil {
            var heartbeat = ParticipantHost.heartbeat(reporting: await participant.reportedStore)
            heartbeat.participantProblem = await participant.problem() ?? ""
            link.write(Phalanx_V1_Envelope(.heartbeat(heartbeat)))
            link.flush()
        }
    }
}
