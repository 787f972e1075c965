import Logging
import NIOCore
import PhalanxCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// The coordinator: accepts connections, takes submitted tasks, dispatches them to workers and
/// routes results back to the clients that submitted them.
///
/// All cluster state lives in this actor (the ``DispatchMachine`` and the table of connected
/// peers); connection tasks only hand decoded messages over, in order. Each connection's task
/// prefers its channel's event loop as executor, so with the listener bound to one loop (as
/// `phalanx coordinator` does) a message goes from socket to decision to the next write on one
/// thread. Writes go straight to the NIO channel, so the actor never suspends mid-step.
public actor Coordinator {
    public nonisolated let local: NodeIdentity
    public nonisolated let configuration: CoordinatorConfiguration
    private let logger: Logger
    private var dispatch: DispatchMachine<Phalanx_V1_TaskSpec>
    private var workerChannels: [String: any Channel] = [:]
    private var clientChannels: [String: any Channel] = [:]
    private var lastHeartbeat: [String: ContinuousClock.Instant] = [:]
    private var counters = Counters()

    struct Counters {
        var accepted: UInt64 = 0
        var succeeded: UInt64 = 0
        var failed: UInt64 = 0
    }

    public init(configuration: CoordinatorConfiguration, local: NodeIdentity, logger: Logger) {
        self.configuration = configuration
        self.local = local
        self.logger = logger
        self.dispatch = DispatchMachine(maximumQueuedTasks: configuration.maximumQueuedTasks, maximumAttempts: configuration.maximumAttempts)
    }

    /// Serves every connection accepted by `listener` until cancelled; also runs the heartbeat monitor.
    public func run(listener: NIOAsyncChannel<PeerChannel, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.monitorHeartbeats() }
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    // Run the connection's task on its event loop: no thread hop per message.
                    group.addTask(executorPreference: EventLoopTaskExecutor(connection.channel.channel.eventLoop)) {
                        await self.serve(connection)
                    }
                }
            }
        }
    }

    // MARK: - Connections

    private nonisolated func serve(_ connection: PeerChannel) async {
        var peer: NodeIdentity?
        do {
            try await connection.channel.executeThenClose { inbound, _ in
                let identity = try await connection.established.get()
                peer = identity
                await self.connected(identity, channel: connection.channel.channel)
                for try await envelope in inbound {
                    await self.received(envelope, from: identity)
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["peer": "\(peer?.uri ?? "unidentified")", "reason": "\(error)"])
        }
        if let peer { await disconnected(peer, channel: connection.channel.channel) }
    }

    private func connected(_ peer: NodeIdentity, channel: any Channel) {
        switch peer.role {
        case .worker:
            workerChannels[peer.name] = channel  // registration follows in a register message
        case .client, .admin:
            clientChannels[peer.name] = channel
        case .coordinator:
            break
        }
        logger.info("peer connected", metadata: ["peer": "\(peer.uri)"])
    }

    private func disconnected(_ peer: NodeIdentity, channel: any Channel) {
        logger.info("peer disconnected", metadata: ["peer": "\(peer.uri)"])
        switch peer.role {
        case .worker:
            guard let current = workerChannels[peer.name], current === channel else { return }
            workerChannels[peer.name] = nil
            declareDead(peer.name, reason: "its connection closed")
        case .client, .admin:
            if let current = clientChannels[peer.name], current === channel { clientChannels[peer.name] = nil }
        case .coordinator:
            break
        }
    }

    // MARK: - Messages

    private func received(_ envelope: Phalanx_V1_Envelope, from peer: NodeIdentity) {
        switch envelope.body {
        case .submit(let batch): submit(batch, from: peer)
        case .register(let registration): register(registration, from: peer)
        case .results(let batch): resultsReceived(batch, from: peer)
        case .heartbeat: lastHeartbeat[peer.name] = .now
        case .statusRequest: sendStatus(to: peer)
        default: break  // the connection machine lets nothing else through
        }
    }

    private func submit(_ batch: Phalanx_V1_SubmitBatch, from client: NodeIdentity) {
        var accepted: UInt32 = 0
        var refused: [Phalanx_V1_TaskResult] = []
        for var spec in batch.tasks {
            if let problem = TaskSpecValidation.problem(with: spec, maximumPayloadBytes: configuration.limits.maximumFrameBytes) {
                refused.append(.failure(spec.taskID, ErrorContext(code: .invalidArgument, message: problem, originNode: local.name, taskID: spec.taskID)))
                continue
            }
            let key = TaskKey(client: client.name, taskID: spec.taskID)
            spec.taskID = TaskRouting.wireID(for: key)
            switch dispatch.submit(key, kind: spec.kind, task: spec) {
            case .accepted:
                accepted += 1
                counters.accepted += 1
            case .duplicate:
                accepted += 1  // idempotent: the task already exists and will report once
            case .overloaded(let queued):
                refused.append(.failure(key.taskID, ErrorContext(
                    code: .overloaded, message: "the coordinator queue is full (\(queued) tasks wait); retry later",
                    originNode: local.name, taskID: key.taskID)))
            }
        }
        var ack = Phalanx_V1_SubmitAck()
        ack.requestID = batch.requestID
        ack.accepted = accepted
        let ackEnvelope = Phalanx_V1_Envelope(.submitAck(ack))
        if let channel = clientChannels[client.name] {
            channel.write(ackEnvelope, promise: nil)
            if !refused.isEmpty { channel.write(Phalanx_V1_Envelope.results(refused), promise: nil) }
            channel.flush()
        }
        counters.failed += UInt64(refused.count)
        pump()
    }

    private func register(_ registration: Phalanx_V1_RegisterWorker, from worker: NodeIdentity) {
        guard let channel = workerChannels[worker.name] else { return }
        let kinds = Set(registration.kinds.filter { !$0.isEmpty })
        guard (1...100_000).contains(registration.capacity), !kinds.isEmpty else {
            let error = ErrorContext(
                code: .invalidArgument,
                message: "a worker registers with capacity 1...100000 and at least one task kind; got capacity \(registration.capacity) and \(kinds.count) kinds",
                originNode: local.name)
            channel.writeAndFlush(Phalanx_V1_Envelope.error(error)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if dispatch.workers[worker.name] != nil {
            // Registered again (a reconnect the coordinator had not noticed yet): the tasks of the
            // old registration are re-queued under new attempts, so its late results are fenced off.
            declareDead(worker.name, reason: "it registered again")
        }
        dispatch.workerRegistered(name: worker.name, capacity: Int(registration.capacity), kinds: kinds)
        lastHeartbeat[worker.name] = .now
        var registered = Phalanx_V1_Registered()
        registered.worker = worker.name
        registered.heartbeatIntervalMs = UInt32(configuration.heartbeatInterval.wholeMilliseconds)
        let envelope = Phalanx_V1_Envelope(.registered(registered))
        channel.writeAndFlush(envelope, promise: nil)
        logger.info("worker registered", metadata: ["worker": "\(worker.name)", "capacity": "\(registration.capacity)", "kinds": "\(kinds.sorted())"])
        pump()
    }

    private func resultsReceived(_ batch: Phalanx_V1_ResultBatch, from worker: NodeIdentity) {
        var byClient: [String: [Phalanx_V1_TaskResult]] = [:]
        for var result in batch.results {
            guard let key = TaskRouting.key(fromWireID: result.taskID) else { continue }
            switch dispatch.resultReceived(from: worker.name, key: key, attempt: result.attempt) {
            case .stale:
                logger.debug("dropped a stale result", metadata: ["task": "\(key)", "attempt": "\(result.attempt)", "worker": "\(worker.name)"])
            case .accepted:
                if case .error = result.outcome { counters.failed += 1 } else { counters.succeeded += 1 }
                result.taskID = key.taskID
                result.worker = worker.name
                if case .error(var error) = result.outcome {
                    error.taskID = key.taskID  // the client knows its own id, not the routing form
                    result.error = error
                }
                byClient[key.client, default: []].append(result)
            }
        }
        deliver(byClient)
        pump()
    }

    private func deliver(_ byClient: [String: [Phalanx_V1_TaskResult]]) {
        for (client, results) in byClient {
            guard let channel = clientChannels[client] else {
                logger.warning("results for a disconnected client were dropped", metadata: ["client": "\(client)", "count": "\(results.count)"])
                continue
            }
            channel.writeAndFlush(Phalanx_V1_Envelope.results(results), promise: nil)
        }
    }

    /// Hands queued tasks to workers with free slots, one dispatch frame per worker.
    private func pump() {
        let assignments = dispatch.assign()
        guard !assignments.isEmpty else { return }
        var byWorker: [String: Phalanx_V1_DispatchBatch] = [:]
        for assignment in assignments {
            var wire = Phalanx_V1_Assignment()
            wire.task = assignment.task
            wire.attempt = assignment.attempt
            byWorker[assignment.worker, default: Phalanx_V1_DispatchBatch()].assignments.append(wire)
        }
        for (worker, batch) in byWorker {
            let envelope = Phalanx_V1_Envelope(.dispatch(batch))
            workerChannels[worker]?.writeAndFlush(envelope, promise: nil)
        }
    }

    private func sendStatus(to peer: NodeIdentity) {
        var reply = Phalanx_V1_StatusReply()
        reply.coordinator = local.name
        reply.workers = dispatch.workers.values.sorted { $0.name < $1.name }.map { slot in
            var status = Phalanx_V1_WorkerStatus()
            status.name = slot.name
            status.capacity = UInt32(slot.capacity)
            status.inFlight = UInt32(slot.inFlight)
            status.kinds = slot.kinds.sorted()
            status.finished = UInt64(slot.finished)
            return status
        }
        reply.tasksAccepted = counters.accepted
        reply.tasksSucceeded = counters.succeeded
        reply.tasksFailed = counters.failed
        reply.tasksQueued = UInt64(dispatch.queuedCount)
        reply.tasksRunning = UInt64(dispatch.runningCount)
        let envelope = Phalanx_V1_Envelope(.statusReply(reply))
        clientChannels[peer.name]?.writeAndFlush(envelope, promise: nil)
    }

    // MARK: - Failure detection

    private func monitorHeartbeats() async throws {
        while true {
            try await Task.sleep(for: configuration.heartbeatInterval)
            let limit = configuration.heartbeatInterval * configuration.heartbeatMisses
            let now = ContinuousClock.now
            for (worker, seen) in lastHeartbeat where seen.duration(to: now) > limit && dispatch.workers[worker] != nil {
                workerChannels[worker]?.close(promise: nil)
                workerChannels[worker] = nil
                declareDead(worker, reason: "it missed \(configuration.heartbeatMisses) heartbeats")
            }
        }
    }

    private func declareDead(_ worker: String, reason: String) {
        lastHeartbeat[worker] = nil
        let (requeued, gaveUp) = dispatch.workerLost(name: worker)
        logger.warning(
            "worker declared dead", metadata: ["worker": "\(worker)", "reason": "\(reason)", "requeued": "\(requeued.count)", "gave_up": "\(gaveUp.count)"])
        var byClient: [String: [Phalanx_V1_TaskResult]] = [:]
        for key in gaveUp {
            counters.failed += 1
            byClient[key.client, default: []].append(.failure(key.taskID, ErrorContext(
                code: .workerLost,
                message: "the task was lost with \(configuration.maximumAttempts) workers in a row (last: \(worker)); it is not retried again",
                originNode: local.name, taskID: key.taskID)))
        }
        deliver(byClient)
        pump()
    }
}
