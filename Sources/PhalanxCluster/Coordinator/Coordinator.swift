import Logging
import Metrics
import NIOCore
import PhalanxCore
import PhalanxResilience
import PhalanxStore
import PhalanxTransport
import PhalanxWire
import Tracing

/// The coordinator's shell: it feeds events from connections and timers into a
/// ``CoordinatorMachine`` and performs the actions it returns, in order, through ``PeerLink``s.
///
/// Changes the machine asks to persist go to a ``GroupCommitWriter`` over the ``TaskLedger``;
/// acknowledgements, deliveries and result look-ups wait until everything queued before them is
/// durable, while dispatch goes out at once. At start it recovers the ledger's unfinished tasks.
///
/// Each connection's task prefers its channel's event loop as executor, so with the listener bound
/// to one loop (as ``CoordinatorRuntime`` does) a message goes from socket to decision to the next
/// write on one thread. Writes never block, so the actor never suspends mid-step. Time comes from
/// the injected clock; the machine sees it as the elapsed time since the coordinator started.
public actor Coordinator<C: Clock> where C.Duration == Duration {
    typealias Machine = CoordinatorMachine<Phalanx_V1_TaskSpec, Phalanx_V1_TaskResult>

    public nonisolated let local: NodeIdentity
    public nonisolated let configuration: CoordinatorConfiguration
    let logger: Logger
    let clock: C
    private let origin: C.Instant
    var machine: Machine
    var links: [ConnectionID: any PeerLink] = [:]
    private var nextConnection: UInt64 = 0
    private var wakeUp: (at: Duration, task: Task<Void, Never>)?
    private var slowReaders: [ConnectionID: Task<Void, Never>] = [:]
    private var traceIDs = TraceIDGenerator()
    var stopping = false

    let ledger: any TaskLedger
    let writer: GroupCommitWriter
    var durableUpTo: GroupCommitWriter.Sequence = 0
    /// Visible actions waiting for the group commit, each with the sequence it waits for.
    var deferred: [(sequence: GroupCommitWriter.Sequence, action: DeferredAction)] = []
    var deferredHead = 0
    private var writerTask: Task<Void, Never>?
    var pruneTask: Task<Void, Never>?
    var ledgerFailure: LedgerError?
    var listenerChannel: (any Channel)?
    /// Nil without a metrics endpoint: then nothing is recorded.
    var metrics: CoordinatorMetrics?
    /// The two timers recorded on the hot path, held apart from `metrics` (reading them through it
    /// copied the whole struct, a retain and release per metric, on every dispatch and persist).
    let taskLatency, dispatchLatency: Metrics.Timer?
    /// Logs a span per submitted batch and per dispatch (`log.spans`); nil: no spans.
    let tracer: SpanLogTracer?
    /// The ledger was read back and the listener serves.
    private(set) var serving = false
    /// For the status page: finished and failed counts over time, and the last failures.
    var activity = ActivityHistory()
    var recentFailures = RecentFailures()

    /// Two-phase commit: the transactions in progress, and the registered workers (participants) by name.
    var transactions: TransactionMachine
    var workerConnections: [String: ConnectionID] = [:]
    /// Why a registered worker's participant store is not available, as its last heartbeat said.
    var participantProblems: [String: String] = [:]
    /// After a restart, until this time, a transaction that names a worker this coordinator knew
    /// (it registered before the restart) waits for it to register again instead of aborting.
    var reregistrationGraceUntil: Duration?
    /// Those transactions, with the bytes of operations they hold (bounded like the transactions in progress).
    var waitingForReregistration: [@Sendable (isolated Coordinator) -> Void] = []
    var waitingForReregistrationBytes = 0
    /// The next timer of the transaction and saga machines (vote deadlines, resends, retries).
    var transactionWakeUp: (at: Duration, task: Task<Void, Never>)?
    /// Sagas: multi-step work with a compensation log, each step a transaction.
    var sagas: SagaMachine
    /// The audit taking its cut, and the decisions held back meanwhile.
    var audit: AuditRun?
    var heldDecisions: [(participant: String, id: String, commit: Bool)] = []
    var nextAuditID: UInt64 = 0

    /// An action that waits for the group commit: the task machine's or the transaction machine's.
    enum DeferredAction {
        case task(Machine.Action)
        /// Finished tasks' results for one client, serialized (the bytes the ledger stores).
        case results(ConnectionID, [SerializedResult])
        case transaction(TransactionMachine.Action)
        case saga(SagaMachine.Action)
        /// A reply that may only be seen once what it reports is durable.
        case envelope(ConnectionID, Phalanx_V1_Envelope)
    }

    public init(
        configuration: CoordinatorConfiguration, local: NodeIdentity, ledger: any TaskLedger, logger: Logger, clock: C, metrics: NodeMetrics? = nil
    ) {
        let coordinatorMetrics = metrics.map { CoordinatorMetrics(factory: $0.factory) }
        self.metrics = coordinatorMetrics
        self.taskLatency = coordinatorMetrics?.taskLatency
        self.dispatchLatency = coordinatorMetrics?.dispatchLatency
        self.tracer = configuration.logsSpans ? SpanLogTracer(logger: logger) : nil
        self.configuration = configuration
        self.local = local
        self.logger = logger
        self.clock = clock
        self.origin = clock.now
        self.ledger = ledger
        self.writer = GroupCommitWriter(ledger: ledger)
        self.machine = Machine(settings: configuration.machineSettings(nodeName: local.name))
        self.transactions = TransactionMachine(node: local.name, settings: configuration.transactionSettings)
        // A step's five tries span more than a heartbeat window (the first wait a tenth of it,
        // doubling): a worker that pauses until it is declared dead does not fail a saga at once.
        let window = configuration.heartbeatInterval * configuration.heartbeatMisses
        self.sagas = SagaMachine(node: local.name, settings: .outlasting(heartbeatWindow: window))
    }

    var now: Duration { origin.duration(to: clock.now) }

    // MARK: - Connections

    /// Recovers the ledger's unfinished tasks, then serves every connection accepted by `listener`
    /// until the listener closes (see ``shutDown()``). Throws a ``LedgerError`` if the ledger cannot
    /// be read at start or written later (then every peer was told and closed).
    public func run(listener: NIOAsyncChannel<AcceptedConnection, Never>) async throws {
        listenerChannel = listener.channel
        do {
            try await start(on: listener.channel.eventLoop)
        } catch {
            try? await listener.channel.close()
            throw error
        }
        pruneTask = Task { await self.pruneFinishedTasks() }
        serving = true
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await accepted in connections {
                    guard let connection = accepted.take() else { continue }
                    // Run the connection's task on its event loop: no thread hop per message.
                    group.addTask(executorPreference: EventLoopTaskExecutor(connection.channel.channel.eventLoop)) {
                        await self.serve(connection)
                    }
                }
            }
        }
        wakeUp?.task.cancel()
        pruneTask?.cancel()
        writer.finish()
        if let ledgerFailure { throw ledgerFailure }
    }

    /// Starts the group-commit writer and recovers the ledger's unfinished tasks (once; ``run(listener:)``
    /// does it if it was not done). Call it before listening, so that a ledger that cannot be read
    /// stops the coordinator before anything connects. With the event loop that will carry the
    /// connections, what waited for durability goes out on that loop's thread, without a hop.
    public func start(on loop: (any EventLoop)? = nil) async throws(LedgerError) {
        guard writerTask == nil else { return }
        let executor: any TaskExecutor = loop.map { EventLoopTaskExecutor($0) } ?? globalConcurrentExecutor
        let writer = writer
        writerTask = Task(executorPreference: executor) {
            do throws(LedgerError) {
                try await writer.run { sequence in await self.durable(upTo: sequence) }
            } catch {
                await self.ledgerFailed(error)
            }
        }
        do {
            try await recover()
        } catch {
            writer.finish()
            throw error
        }
    }

    /// Stops: what is queued for the ledger is written (and what waited for it is sent), then every
    /// peer gets an Error frame (`UNAVAILABLE`, shutting down) and is closed.
    public func shutDown() async {
        guard !stopping else { return }
        stopping = true
        serving = false
        logger.notice("coordinator shutting down", metadata: ["connections": "\(links.count)"])
        pruneTask?.cancel()
        writer.finish()
        await writerTask?.value
        perform(machine.shutDown())
        wakeUp?.task.cancel()
        wakeUp = nil
    }

    private nonisolated func serve(_ connection: PeerChannel) async {
        var id: ConnectionID?
        do {
            try await connection.channel.executeThenClose { inbound, _ in
                let peer = try await connection.established.get()
                let link = ChannelPeerLink(channel: connection.channel.channel, peer: peer, inbound: connection.progress)
                id = await self.connected(link)
                guard let connectionID = id else { return }
                for try await envelope in inbound {
                    guard await self.received(envelope, from: connectionID, over: link) else { return }  // cut off: it does not read
                    connection.progress.handledOne()
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["connection": "\(id.map { "\($0)" } ?? "unidentified")", "reason": "\(error)"])
        }
        if let id { await disconnected(id) }
    }

    /// Handles one envelope; a submit is read only once ``mayReadSubmit(from:over:)`` allows it.
    /// False when the connection was cut off as a peer that does not read.
    private func received(_ envelope: Phalanx_V1_Envelope, from id: ConnectionID, over link: some PeerLink) async -> Bool {
        if case .submit = envelope.body {
            guard await mayReadSubmit(from: id, over: link) else {
                cutOffSlowReader(id)
                return false
            }
        }
        received(envelope, from: id)
        return true
    }

    /// Waits until a submit of connection `id` may be read (TCP pushes back on the peer meanwhile):
    /// its unfinished tasks hold at most `limits.client_inflight_bytes` of payload, at most
    /// `ledgerBacklogBytes` wait for the ledger, and the connection takes writes. False if it
    /// stayed unwritable for `limits.slow_reader_timeout_ms`: a client that does not read its results.
    private func mayReadSubmit(from id: ConnectionID, over link: some PeerLink) async -> Bool {
        var unwritableSince: C.Instant?
        while links[id] != nil {
            let writable = link.isWritable
            if writable
                && machine.outstandingBytes(of: id) <= configuration.limits.clientInflightBytes
                && writer.pendingBytes <= configuration.ledgerBacklogBytes
            {
                return true
            }
            if writable {
                unwritableSince = nil
            } else if let since = unwritableSince {
                if since.duration(to: clock.now) >= configuration.slowReaderTimeout { return false }
            } else {
                unwritableSince = clock.now
            }
            guard (try? await clock.sleep(for: .milliseconds(2))) != nil else { break }  // stopping
        }
        return true
    }

    private func connected(_ link: any PeerLink) -> ConnectionID? {
        guard !stopping else {
            link.close(with: ErrorContext(code: .unavailable, message: "the coordinator is shutting down", originNode: local.name))
            return nil
        }
        nextConnection += 1
        let id = ConnectionID(nextConnection)
        links[id] = link
        logger.info("peer connected", metadata: ["peer": "\(link.peer.identity.uri)", "connection": "\(id)"])
        perform(machine.connected(id, peer: link.peer.identity, now: now))
        return id
    }

    private func disconnected(_ id: ConnectionID) {
        guard let link = links.removeValue(forKey: id) else { return }
        slowReaders.removeValue(forKey: id)?.cancel()
        logger.info("peer disconnected", metadata: ["peer": "\(link.peer.identity.uri)", "connection": "\(id)"])
        if let name = workerConnections.first(where: { $0.value == id })?.key { auditLost(name) }
        guard !stopping else { return }  // its tasks are in the ledger; nothing is re-queued or aborted now
        participantDisconnected(id)
        perform(machine.disconnected(id, now: now))
    }

    private func cutOffSlowReader(_ id: ConnectionID) {
        guard let link = links[id] else { return }
        let seconds = configuration.slowReaderTimeout.wholeMilliseconds
        logger.warning("cutting off a client that does not read its results", metadata: ["peer": "\(link.peer.identity.uri)", "connection": "\(id)"])
        link.close(with: ErrorContext(
            code: .overloaded,
            message: "this connection did not read what the coordinator sent for \(seconds) ms (limits.slow_reader_timeout_ms) while its send buffer was full; it is closed. Read results as they come",
            originNode: local.name))
    }

    // MARK: - Messages

    private func received(_ envelope: Phalanx_V1_Envelope, from id: ConnectionID) {
        // Stopping: the ledger's writer is finishing, so nothing more is decided. A result read
        // now would free a slot and dispatch a task whose record could come after the writer's
        // last transaction; after the restart it would run again under the same attempt number.
        guard !stopping else { return }
        let now = self.now
        switch envelope.body {
        case .submit(let batch): submit(batch, from: id, now: now)
        case .register(let registration):
            perform(machine.register(
                from: id,
                WorkerRegistration(
                    capacity: Int(registration.capacity), kinds: Set(registration.kinds), incarnation: registration.incarnation,
                    prefetch: Int(registration.prefetch), maximumInFlightBytes: Int(clamping: registration.maxInFlightBytes),
                    maximumPayloadBytes: TaskLimits.maximumPayloadBytes(
                        forFrameBytes: links[id]?.peer.maximumFrameBytes ?? EstablishedPeer.defaultMaximumFrameBytes)),
                now: now))
        case .results(let batch):
            let reported = batch.results.map { result in
                ReportedResult(
                    task: result.dispatchID, attempt: result.attempt,
                    failure: result.failure,
                    output: result, neverStarted: result.neverStarted)
            }
            perform(machine.results(from: id, reported, now: now))
        case .heartbeat(let heartbeat):
            if let name = workerConnections.first(where: { $0.value == id })?.key {
                participantProblems[name] = heartbeat.participantProblem.isEmpty ? nil : String(heartbeat.participantProblem.prefix(1_000))
            }
            let store = heartbeat.participantStore.isEmpty
                ? nil : KnownParticipantStore(id: heartbeat.participantStore, writes: Int64(clamping: heartbeat.participantStoreWrites))
            perform(machine.heartbeat(from: id, participantStore: store, now: now))
        case .statusRequest: perform(machine.statusRequested(from: id))
        case .draining: perform(machine.draining(from: id, now: now))
        case .handBack(let handBack):
            perform(machine.handBack(from: id, handBack.tasks.map { ($0.dispatchID, $0.attempt) }, now: now))
        case .breakerCommand(let command):
            let parsed: BreakerCommand
            switch command.action {
            case .open: parsed = .forceOpen(worker: command.worker)
            case .close: parsed = .close(worker: command.worker)
            default: parsed = .list
            }
            perform(machine.breakerCommand(from: id, parsed, now: now))
        case .drainRequest(let request): perform(machine.drainRequested(from: id, worker: request.worker))
        case .resultRequest(let request):
            perform(machine.attach(from: id, requestID: request.requestID, taskIDs: request.taskIds, now: now))
        case .deadLetterRequest(let request):
            deadLetterRequest(request, from: id)
        case .cancelRequest(let request):
            perform(machine.cancel(from: id, requestID: request.requestID, taskIDs: request.taskIds, now: now))
        case .spawnChildren(let request): spawn(request, from: id, now: now)
        case .txRequest(let request): transactionRequest(request, from: id)
        case .txVote(let vote): transactionVote(vote, from: id)
        case .txAck(let ack): transactionAcknowledged(ack, from: id)
        case .txInquiry(let inquiry): transactionInquiry(inquiry, from: id)
        case .txShowRequest(let request): transactionShow(request, from: id)
        case .auditRequest(let request): auditRequest(request, from: id)
        case .snapshotPart(let part): snapshotPart(part, from: id)
        case .sagaRequest(let request): sagaRequest(request, from: id)
        default: break  // the connection machine lets nothing else through
        }
    }

    private func submit(_ batch: Phalanx_V1_SubmitBatch, from id: ConnectionID, now: Duration) {
        let nowUnix = WireTime.nowUnixMilliseconds()
        let batchTrace = TraceContext(traceID: batch.trace.traceID, spanID: batch.trace.spanID) ?? .newTrace(using: &traceIDs)
        let tasks = batch.tasks.map { submittedTask(tracing($0), now: now, nowUnix: nowUnix) }
        guard let tracer else {
            perform(machine.submit(from: id, requestID: batch.requestID, batchTrace: batchTrace, tasks: tasks, now: now))
            return
        }
        tracer.withSpan("submit", context: .phalanxSpan(batchTrace.childSpan(using: &traceIDs), parentSpanID: batchTrace.spanID), ofKind: .server) { span in
            span.attributes["tasks"] = tasks.count
            span.attributes["client"] = links[id]?.peer.identity.name ?? ""
            span.attributes["request_id"] = Int(truncatingIfNeeded: batch.requestID)
            perform(machine.submit(from: id, requestID: batch.requestID, batchTrace: batchTrace, tasks: tasks, now: now))
        }
        traceAcceptance(of: batch.tasks, from: links[id]?.peer.identity.name ?? "", tracer: tracer)
    }

    /// `spec`, with a new trace when it came without one.
    func tracing(_ spec: Phalanx_V1_TaskSpec) -> Phalanx_V1_TaskSpec {
        guard spec.trace.traceID.isEmpty && spec.trace.spanID.isEmpty else { return spec }
        var spec = spec
        let trace = TraceContext.newTrace(using: &traceIDs)
        spec.trace.traceID = trace.traceID
        spec.trace.spanID = trace.spanID
        return spec
    }

    // MARK: - Actions

    func perform(_ actions: [Machine.Action]) {
        var touched = Set<ConnectionID>()
        var finishedResults: [TaskKey: [UInt8]] = [:]
        for action in actions {
            switch action {
            case .persist(let changes):
                finishedResults = persist(changes, lingering: Self.acceptsWhatItDispatches(changes, actions))
            case .deliver(let id, let deliveries):
                guard links[id] != nil else { continue }  // the client left; its results stay in the ledger
                performWhenDurable(.results(id, serializedResults(deliveries, reusing: finishedResults)), touched: &touched)
            case .acknowledge, .refuse, .lookUp, .deliverStored, .cancelReply:
                performWhenDurable(.task(action), touched: &touched)
            case .spawnReply(let id, let requestID, let accepted, let error):
                var reply = Phalanx_V1_SpawnReply()
                reply.requestID = requestID
                reply.accepted = UInt32(clamping: accepted)
                if let error { reply.error = error.wire }
                write(Phalanx_V1_Envelope(.spawnReply(reply)), to: id, touched: &touched)
            case .deliverToParent(let id, let results):
                deliverToParent(results, to: id, touched: &touched)
            case .cancelAttempts(let id, let attempts):
                let references = attempts.map { Phalanx_V1_TaskRef(dispatchID: $0.task, attempt: $0.attempt) }
                let maximumFrameBytes = links[id]?.peer.maximumFrameBytes ?? EstablishedPeer.defaultMaximumFrameBytes
                for frame in Phalanx_V1_TaskRef.frames(references, maximumFrameBytes: maximumFrameBytes, wrap: { chunk in
                    var cancel = Phalanx_V1_CancelAttempts()
                    cancel.tasks = chunk
                    return Phalanx_V1_Envelope(.cancelAttempts(cancel))
                }) {
                    write(frame, to: id, touched: &touched)
                }
            case .dispatch(let id, let assignments):
                dispatch(assignments, to: id, touched: &touched)
            case .confirmRegistration(let id, let worker, let interval, let participantStore):
                var registered = Phalanx_V1_Registered()
                registered.worker = worker
                registered.participantStore = participantStore?.id ?? ""
                registered.participantStoreWrites = UInt64(clamping: participantStore?.writes ?? 0)
                registered.heartbeatIntervalMs = UInt32(clamping: interval.wholeMilliseconds)
                write(Phalanx_V1_Envelope(.registered(registered)), to: id, touched: &touched)
                participantRegistered(worker, on: id)
            case .answerHeartbeat(let id):
                write(Phalanx_V1_Envelope(.heartbeat(Phalanx_V1_Heartbeat())), to: id, touched: &touched)
            case .participantStoreReplaced(let worker):
                participantStoreReplaced(worker)
            case .sendStatus(let id, let status):
                var reply = status.wire(coordinator: local.name)
                for index in reply.workers.indices { reply.workers[index].participantProblem = participantProblems[reply.workers[index].name] ?? "" }
                // A client sees its own failed tasks; an admin everyone's.
                let requester = links[id]?.peer.identity
                reply.recentFailures = recentFailures.entries.filter { requester?.role == .admin || $0.client == requester?.name }.map(\.wire)
                reply.fit(maximumFrameBytes: links[id]?.peer.maximumFrameBytes ?? EstablishedPeer.defaultMaximumFrameBytes)
                write(Phalanx_V1_Envelope(.statusReply(reply)), to: id, touched: &touched)
            case .sendBreakers(let id, let breakers, let error):
                var reply = Phalanx_V1_BreakerReply()
                reply.breakers = breakers.map { breaker in
                    var status = Phalanx_V1_BreakerStatus()
                    status.worker = breaker.worker
                    status.state = breaker.state
                    return status
                }
                if let error { reply.error = error.wire }
                write(Phalanx_V1_Envelope(.breakerReply(reply)), to: id, touched: &touched)
            case .sendDrainReply(let id, let error):
                var reply = Phalanx_V1_DrainReply()
                if let error { reply.error = error.wire }
                write(Phalanx_V1_Envelope(.drainReply(reply)), to: id, touched: &touched)
            case .requestDrain(let id, let requestedBy):
                var drain = Phalanx_V1_Drain()
                drain.requestedBy = requestedBy
                write(Phalanx_V1_Envelope(.drain(drain)), to: id, touched: &touched)
            case .close(let id, let error):
                links[id]?.close(with: error)
            case .holdIdleTimeout(let id, let held):
                links[id]?.holdIdleTimeout(held)
            case .scheduleWakeUp(let at):
                scheduleWakeUp(at: at)
            case .log(let entry):
                log(entry)
            }
        }
        for id in touched { links[id]?.flush() }
    }

    /// Performs an acknowledgement, refusal, delivery or look-up (its changes are durable).
    func performVisible(_ action: Machine.Action, touched: inout Set<ConnectionID>) {
        switch action {
        case .acknowledge(let id, let requestID, let accepted, let duplicates):
            var ack = Phalanx_V1_SubmitAck()
            ack.requestID = requestID
            ack.accepted = UInt32(clamping: accepted)
            ack.duplicates = UInt32(clamping: duplicates)
            write(Phalanx_V1_Envelope(.submitAck(ack)), to: id, touched: &touched)
        case .refuse(let id, let requestID, let error):
            var ack = Phalanx_V1_SubmitAck()
            ack.requestID = requestID
            ack.error = error.wire
            write(Phalanx_V1_Envelope(.submitAck(ack)), to: id, touched: &touched)
        case .deliver(let id, let deliveries):
            send(serialized: serializedResults(deliveries, reusing: [:]), to: id, touched: &touched)
        case .lookUp(let id, let requestID, let taskIDs, let pending):
            lookUp(id, requestID: requestID, taskIDs: taskIDs, pending: pending)
        case .deliverStored(let id, let duplicates):
            deliverStored(id, duplicates)
        case .cancelReply(let id, let requestID, let cancelled, let notRunning):
            var reply = Phalanx_V1_CancelReply()
            reply.requestID = requestID
            reply.cancelled = cancelled
            reply.notRunning = notRunning
            write(Phalanx_V1_Envelope(.cancelReply(reply)), to: id, touched: &touched)
        default:
            perform([action])
        }
    }

    /// Writes one envelope and flushes it (for replies outside an action list).
    func sendNow(_ envelope: Phalanx_V1_Envelope, to id: ConnectionID) {
        var touched = Set<ConnectionID>()
        write(envelope, to: id, touched: &touched)
        for id in touched { links[id]?.flush() }
    }

    func write(_ envelope: Phalanx_V1_Envelope, to id: ConnectionID, touched: inout Set<ConnectionID>) {
        guard let link = links[id] else { return }
        link.write(envelope)
        touched.insert(id)
    }

    /// Sends assignments in frames cut to the worker's announced frame limit.
    private func dispatch(_ assignments: [TaskAssignment<Phalanx_V1_TaskSpec>], to id: ConnectionID, touched: inout Set<ConnectionID>) {
        guard let link = links[id] else { return }
        let wire = assignments.map { assignment in
            var message = Phalanx_V1_Assignment()
            message.task = assignment.spec
            if let childID = assignment.childID { message.task.taskID = childID }
            message.attempt = assignment.attempt
            message.dispatchID = assignment.task
            return message
        }
        if let tracer { traceDispatch(wire, to: link.peer.identity.name, tracer: tracer) }
        if let latency = dispatchLatency {
            let now = self.now
            for assignment in assignments where assignment.attempt == 1 {
                if let acceptedAt = assignment.acceptedAt { latency.recordElapsed(now - acceptedAt) }
            }
        }
        // Serialized one by one (each sized once), and cut by those exact sizes.
        let serialized = wire.map { (assignment: $0, bytes: BatchFrame.serialized($0)) }
        let (chunks, oversized) = FrameBudget.chunks(serialized, maximumFrameBytes: link.peer.maximumFrameBytes) {
            $0.bytes.count + BatchFrame.perElementOverheadBytes
        }
        for chunk in chunks { link.write(frame: BatchFrame.dispatch(chunk.map(\.bytes))) }
        touched.insert(id)
        guard !oversized.isEmpty else { return }
        // The machine sends a worker only payloads its frames carry with the frame reserve to
        // spare (WorkerRegistration.maximumPayloadBytes); a task still too large for them cannot
        // reach it, so it fails here as if the worker had refused it.
        let refused = oversized.map { (assignment, bytes) in
            var result = Phalanx_V1_TaskResult()
            result.taskID = assignment.task.taskID
            result.attempt = assignment.attempt
            result.dispatchID = assignment.dispatchID
            result.error = ErrorContext(
                code: .invalidArgument,
                message: "the task (\(bytes.count + BatchFrame.perElementOverheadBytes) bytes) is larger than the frame limit worker \(link.peer.identity.name) announced (\(link.peer.maximumFrameBytes) bytes); give every node the same limits.max_frame_bytes",
                traceID: assignment.task.trace.traceID, originNode: local.name, taskID: assignment.task.taskID,
                attempt: Int(assignment.attempt)
            ).wire
            return ReportedResult(task: assignment.dispatchID, attempt: assignment.attempt, failure: (.invalidArgument, .business), output: result)
        }
        perform(machine.results(from: id, refused, now: now))
    }

    /// Sends results (children's, to their parent's worker) in frames cut by their estimated
    /// sizes to the peer's announced frame limit.
    func send(
        _ results: [Phalanx_V1_TaskResult], to id: ConnectionID, touched: inout Set<ConnectionID>,
        framedAs frame: ([Phalanx_V1_TaskResult]) -> Phalanx_V1_Envelope = Phalanx_V1_Envelope.results
    ) {
        guard let link = links[id], !results.isEmpty else { return }
        let (chunks, oversized) = FrameBudget.chunks(results, maximumFrameBytes: link.peer.maximumFrameBytes) { $0.estimatedWireBytes }
        for chunk in chunks { write(frame(chunk), to: id, touched: &touched) }
        if !oversized.isEmpty { sendFitted(oversized.map { ($0, nil) }, to: id, link: link, touched: &touched, framedAs: frame) }
        if !link.isWritable { watchSlowReader(id) }
    }

    /// Results too large for the peer's frames: each loses history records, oldest first, until it
    /// fits; one that does not fit even without them is replaced by an error that says so.
    private func sendFitted(
        _ oversized: [(result: Phalanx_V1_TaskResult, traceID: String?)], to id: ConnectionID, link: any PeerLink,
        touched: inout Set<ConnectionID>, framedAs frame: ([Phalanx_V1_TaskResult]) -> Phalanx_V1_Envelope
    ) {
        let budget = link.peer.maximumFrameBytes - FrameBudget.envelopeOverheadBytes
        let fitted = oversized.map { original, traceID -> Phalanx_V1_TaskResult in
            var trimmed = original
            while !trimmed.history.isEmpty && trimmed.estimatedWireBytes > budget { trimmed.history.removeFirst() }
            return trimmed.estimatedWireBytes <= budget ? trimmed : tooLarge(original, bytes: original.estimatedWireBytes, for: link.peer, traceID: traceID)
        }
        let (chunks, unsendable) = FrameBudget.chunks(fitted, maximumFrameBytes: link.peer.maximumFrameBytes) { $0.estimatedWireBytes }
        for chunk in chunks { write(frame(chunk), to: id, touched: &touched) }
        for result in unsendable {
            logger.error(
                "a result does not fit the peer's frames even as an error; it was not sent (phalanx result ID reads it from the ledger)",
                metadata: ["task": "\(result.taskID)", "peer": "\(link.peer.identity.uri)", "frame_limit": "\(link.peer.maximumFrameBytes)"])
        }
    }

    /// Sends serialized results (``persist(_:)``'s bytes, or stored results read back for a
    /// look-up) in frames cut by their exact sizes to the client's frame limit, so a result that
    /// reaches a `--wait` client also reaches `phalanx result` and a re-attach.
    /// A result's trace id goes into the error that replaces it if it is too large for the client's frames.
    func send(serialized results: [SerializedResult], to id: ConnectionID, touched: inout Set<ConnectionID>) {
        guard let link = links[id], !results.isEmpty else { return }
        let (chunks, oversized) = FrameBudget.chunks(results, maximumFrameBytes: link.peer.maximumFrameBytes) {
            $0.bytes.count + BatchFrame.perElementOverheadBytes
        }
        for chunk in chunks { link.write(frame: BatchFrame.results(chunk.map(\.bytes))) }
        touched.insert(id)
        if !oversized.isEmpty {
            // Rare: read back to trim or replace (these bytes were serialized here, so they read).
            let readBack = oversized.map { serialized -> (result: Phalanx_V1_TaskResult, traceID: String?) in
                do {
                    return (try Phalanx_V1_TaskResult(serializedBytes: serialized.bytes), serialized.traceID)
                } catch {
                    logger.error("cannot read back a serialized result to replace it", metadata: ["bytes": "\(serialized.bytes.count)", "error": "\(error)"])
                    let bytes = serialized.bytes.count + BatchFrame.perElementOverheadBytes
                    return (tooLarge(Phalanx_V1_TaskResult(), bytes: bytes, for: link.peer, traceID: serialized.traceID), serialized.traceID)
                }
            }
            sendFitted(readBack, to: id, link: link, touched: &touched, framedAs: Phalanx_V1_Envelope.results)
        }
        if !link.isWritable { watchSlowReader(id) }
    }

    /// What the client gets instead of a result larger than its frame limit even without its
    /// history (the replacement has none, so it fits). `bytes` is what the result takes in a
    /// results frame, as the frame cutter counted it.
    private func tooLarge(_ original: Phalanx_V1_TaskResult, bytes: Int, for peer: EstablishedPeer, traceID: String? = nil) -> Phalanx_V1_TaskResult {
        var result = original
        result.history = []  // so that the replacement always fits
        let receiver = peer.identity.role == .worker ? "worker \(peer.identity.name)'s" : "this client's"
        let needed = bytes + FrameBudget.envelopeOverheadBytes
        // Say first how the task itself ended: this error is about delivering its result, not running it.
        let ended: String
        switch original.outcome {
        case .output(let output)?: ended = "the task succeeded (an output of \(output.count) bytes), but its result"
        case .error(let error)?: ended = "the task failed (\(error.code.rawValue)), and its result"
        case nil: ended = "the task's result"
        }
        let reread = peer.identity.role == .worker ? "" : "; read it with a larger limit, e.g. phalanx result \(original.taskID.prefix(64)) --set limits.max_frame_bytes=\(min(FrameLimits.maximumBytes, max((needed + 1023) / 1024 * 1024, FrameLimits.minimumBytes)))"
        result.error = ErrorContext(
            code: .internal,
            message: "\(ended) needs about \(needed) bytes of a frame (\(bytes) for the result, \(FrameBudget.envelopeOverheadBytes) kept for the frame around it), more than \(receiver) frame limit of \(peer.maximumFrameBytes) bytes (limits.max_frame_bytes)\(reread)",
            traceID: original.failure == nil || original.error.traceID.isEmpty ? traceID : original.error.traceID, originNode: local.name,
            taskID: original.taskID
        ).wire
        return result
    }

    /// A client whose send buffer stays full for the slow-reader timeout is cut off.
    private func watchSlowReader(_ id: ConnectionID) {
        guard slowReaders[id] == nil else { return }
        let (timeout, clock) = (configuration.slowReaderTimeout, clock)
        slowReaders[id] = Task {
            let deadline = clock.now.advanced(by: timeout)
            while clock.now < deadline {
                guard (try? await clock.sleep(for: .milliseconds(50))) != nil else { return }
                if self.isWritable(id) {
                    self.slowReaderRecovered(id)
                    return
                }
            }
            self.cutOffSlowReader(id)
        }
    }

    private func isWritable(_ id: ConnectionID) -> Bool { links[id]?.isWritable ?? true }

    private func slowReaderRecovered(_ id: ConnectionID) { slowReaders[id] = nil }

    // MARK: - Time

    private func scheduleWakeUp(at elapsed: Duration) {
        if let current = wakeUp, current.at <= elapsed { return }
        wakeUp?.task.cancel()
        let instant = origin.advanced(by: elapsed)
        let clock = clock
        wakeUp = (elapsed, Task {
            do {
                try await clock.sleep(until: instant, tolerance: nil)
            } catch {
                return  // replaced by an earlier wake-up, or stopping
            }
            self.wokeUp()
        })
    }

    private func wokeUp() {
        wakeUp = nil
        guard !stopping else { return }
        // A worker whose messages arrived and wait for this actor is alive, however long ago the
        // last one was handled: it is not judged silent while the coordinator is behind.
        for (id, link) in links where (link.inbound?.backlog ?? 0) > 0 { machine.messagesWaiting(from: id, now: now) }
        perform(machine.wakeUp(now: now))
    }

    private func log(_ entry: CoordinatorLogEntry) {
        let level: Logger.Level
        switch entry.level {
        case .debug: level = .debug
        case .info: level = .info
        case .notice: level = .notice
        case .warning: level = .warning
        case .error: level = .error
        }
        logger.log(level: level, "\(entry.message)", metadata: entry.metadata.mapValues { .string($0) })
    }
}

extension CoordinatorStatus {
    func wire(coordinator: String) -> Phalanx_V1_StatusReply {
        var reply = Phalanx_V1_StatusReply()
        reply.coordinator = coordinator
        reply.workers = workers.map { worker in
            var status = Phalanx_V1_WorkerStatus()
            status.name = worker.name
            status.capacity = UInt32(clamping: worker.capacity)
            status.prefetch = UInt32(clamping: worker.prefetch)
            status.inFlight = UInt32(clamping: worker.inFlight)
            status.kinds = worker.kinds
            status.finished = UInt64(worker.finished)
            status.breaker = worker.breaker
            status.draining = worker.draining
            status.maxPayloadBytes = UInt64(clamping: worker.maximumPayloadBytes)
            return status
        }
        reply.tasksAccepted = accepted
        reply.tasksSucceeded = succeeded
        reply.tasksFailed = failed
        reply.tasksQueued = UInt64(queued)
        reply.tasksRunning = UInt64(running)
        reply.queuedBytes = UInt64(heldBytes)
        reply.clients = UInt32(clamping: clients)
        reply.tasksExpired = expired
        reply.tasksRecovered = UInt64(recovered)
        reply.queuedHigh = UInt64(queuedByPriority.high)
        reply.queuedNormal = UInt64(queuedByPriority.normal)
        reply.queuedLow = UInt64(queuedByPriority.low)
        reply.tasksRetrying = UInt64(retrying)
        reply.tasksRetried = retried
        reply.tasksDeadLettered = deadLettered
        reply.failures = failures.sorted { ($0.value, $1.key.code.rawValue) > ($1.value, $0.key.code.rawValue) }.map { kind, count in
            var failure = Phalanx_V1_FailureCount()
            failure.code = kind.code.rawValue
            failure.failureClass = kind.failureClass.wire
            failure.count = count
            return failure
        }
        return reply
    }
}

extension Phalanx_V1_TaskResult {
    /// The failure's code and class, nil when the task succeeded.
    var failure: (code: ErrorCode, failureClass: FailureClass)? {
        guard case .error(let error) = outcome else { return nil }
        return (ErrorCode(wire: error.code), FailureClass(wire: error.failureClass, fallback: ErrorCode(wire: error.code).defaultFailureClass))
    }
}

extension RecentFailures.Entry {
    var wire: Phalanx_V1_RecentFailure {
        var failure = Phalanx_V1_RecentFailure()
        failure.client = client
        failure.taskID = taskID
        failure.code = code
        failure.message = message
        failure.traceID = traceID
        failure.worker = worker ?? ""
        failure.unixMs = unixMilliseconds
        return failure
    }
}
