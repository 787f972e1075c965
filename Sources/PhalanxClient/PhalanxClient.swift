import Foundation
import Logging
import NIOCore
import PhalanxCore
import PhalanxResilience
import PhalanxTransport
import PhalanxWire

/// The Swift client API: submit tasks to a coordinator and wait for their outcomes.
///
/// ```swift
/// let client = try await PhalanxClient.connect(host: "127.0.0.1", port: 7400, tls: files)
/// let outcomes = try await client.run([TaskRequest(taskID: "t1", kind: "echo", text: "hi")])
/// ```
/// Tasks are sent in batches cut by count and by the coordinator's frame limit; each batch is
/// accepted or refused whole. The client keeps its connection alive with heartbeats while it is
/// open, so a long wait for a long task is never cut by an idle timer.
public actor PhalanxClient {
    private let peer: PeerChannel
    private let channel: any Channel
    /// Every message to the coordinator goes through it: what lanes send at once leaves together.
    private let outbound: OutboundBatcher<OutboundFrame>
    let local: NodeIdentity
    /// The coordinator and the limits it announced.
    public nonisolated let coordinator: EstablishedPeer
    private let settings: Settings
    /// This client's own frame limit: no reply may be larger.
    private let ownFrameBytes: Int
    private var nextRequestID: UInt64 = 0
    /// Ids of the transactions and sagas started without one.
    private var unnamedIDs = RequestIDs()
    /// Trace ids of transactions and sagas (the system generator costs a system call per draw).
    private var traceIDs = TraceIDGenerator()
    private var acks = AckSlots<Phalanx_V1_SubmitAck>()
    private var waitingOutcomes: [String: CheckedContinuation<TaskOutcome, Never>] = [:]
    private var unfinished: Set<String> = []
    private var arrived: OutcomeBuffer
    private var waitingStatus: [CheckedContinuation<ClusterStatus, any Error>] = []
    private var waitingBreakers: [CheckedContinuation<Phalanx_V1_BreakerReply, any Error>] = []
    private var waitingDrains: [CheckedContinuation<Phalanx_V1_DrainReply, any Error>] = []
    private var waitingCancels: [UInt64: CheckedContinuation<Phalanx_V1_CancelReply, any Error>] = [:]
    private var waitingDeadLetters: [UInt64: CheckedContinuation<Phalanx_V1_DeadLetterReply, any Error>] = [:]
    private var waitingTransactions: [UInt64: CheckedContinuation<Phalanx_V1_TxReply, any Error>] = [:]
    private var waitingShows: [UInt64: CheckedContinuation<Phalanx_V1_TxShowReply, any Error>] = [:]
    private var showParts = ShowReplyAssembly()
    private var waitingAudits: [UInt64: CheckedContinuation<Phalanx_V1_AuditReply, any Error>] = [:]
    private var waitingSagas: [UInt64: CheckedContinuation<Phalanx_V1_SagaReply, any Error>] = [:]
    private var waitingLookups: [UInt64: (lookup: ResultLookup, waiter: CheckedContinuation<ResultLookup, any Error>)] = [:]
    private var closedError: ErrorContext?
    /// Results received since connecting (each task reports once; a higher count means a duplicate).
    public private(set) var resultsReceived = 0
    private var reader: Task<Void, Never>?
    private var keepAlive: Task<Void, Never>?

    /// Tasks per submit frame at most (frames are also cut by bytes).
    public static let batchSize = 1_000
    /// Submit frames sent ahead of their acknowledgement, at most.
    public static let batchesInFlight = 4

    /// How the client behaves; every bound is in bytes as well as counts where it holds data.
    public struct Settings: Sendable {
        /// Outcomes kept for tasks nobody waits for yet; past it the oldest are discarded.
        public var maximumBufferedOutcomes = 1_000_000
        /// Bytes of outcomes kept for tasks nobody waits for yet.
        public var maximumBufferedOutcomeBytes = 256 * 1024 * 1024
        /// How long a batch refused with `OVERLOADED` is retried (after the coordinator's retry-after).
        public var overloadRetryWindow: Duration = .seconds(30)
        /// Tasks per submit frame at most, 1 to ``PhalanxClient/batchSize``: lower it when the
        /// coordinator's `admission.burst` is smaller (a larger batch is refused whole).
        public var maximumBatchCount = PhalanxClient.batchSize
        /// Told when a batch is refused `OVERLOADED` and will be sent again after the wait given
        /// (so that a command can say why it is quiet); nil: nobody is told.
        public var onOverloadRetry: (@Sendable (_ refusal: ErrorContext, _ wait: Duration) -> Void)?

        public init() {}
    }

    private init(peer: PeerChannel, coordinator: EstablishedPeer, local: NodeIdentity, ownFrameBytes: Int, settings: Settings) {
        self.peer = peer
        self.ownFrameBytes = ownFrameBytes
        self.channel = peer.channel.channel
        outbound = OutboundBatcher(channel: peer.channel.channel)
        self.coordinator = coordinator
        self.local = local
        self.settings = settings
        self.arrived = OutcomeBuffer(maximumCount: settings.maximumBufferedOutcomes, maximumBytes: settings.maximumBufferedOutcomeBytes)
    }

    /// Connects with the client certificate in `tls` and completes the Hello exchange.
    public static func connect(
        host: String, port: Int, tls: TLSFiles, limits: ConnectionLimits = ConnectionLimits(), settings: Settings = Settings(),
        logger: Logger = Logger(label: "phalanx.client")
    ) async throws -> PhalanxClient {
        let context = try tls.makeClientContext()
        let local = try tls.localIdentity()
        let (peer, coordinator) = try await PhalanxDialer.connect(
            host: host, port: port, tlsContext: context, local: local, limits: limits, logger: logger)
        let client = PhalanxClient(peer: peer, coordinator: coordinator, local: local, ownFrameBytes: limits.maximumFrameBytes, settings: settings)
        await client.start()
        return client
    }

    /// The connection's event loop as a task executor. A caller that runs with it as its
    /// preference (`withTaskExecutorPreference(client.executor) { … }`) calls this client and is
    /// resumed with each reply on the loop's thread: no thread hop per call, the lowest latency for
    /// a caller that does little work between calls. One that does CPU-heavy work should not.
    public nonisolated var executor: any TaskExecutor { EventLoopTaskExecutor(channel.eventLoop) }

    /// This client's identity (from its certificate).
    public nonisolated var identity: NodeIdentity { local }

    /// The largest payload one task may carry on this connection.
    public nonisolated var maximumPayloadBytes: Int { TaskLimits.maximumPayloadBytes(forFrameBytes: coordinator.maximumFrameBytes) }

    /// Submits `requests` and returns once the coordinator has accepted them (not when they finish).
    ///
    /// Each frame is accepted or refused whole. A batch refused with `OVERLOADED` is sent again
    /// after the coordinator's retry-after, for up to `Settings.overloadRetryWindow`; any other
    /// refusal is thrown, saying how many of the requests were accepted before it.
    @discardableResult
    public func submit(_ requests: [TaskRequest]) async throws -> SubmitReceipt {
        var seen = Set<String>()
        for request in requests {
            guard seen.insert(request.taskID).inserted else {
                throw ErrorContext(
                    code: .invalidArgument, message: "task id '\(request.taskID)' appears twice in one submission; give every task its own id",
                    originNode: local.name, taskID: request.taskID)
            }
            guard request.payload.count <= maximumPayloadBytes else {
                throw ErrorContext(
                    code: .invalidArgument,
                    message: "task '\(request.taskID)': a payload of \(request.payload.count) bytes is larger than the largest the coordinator accepts, \(maximumPayloadBytes) bytes (its limits.max_frame_bytes - \(TaskLimits.frameReserveBytes)); nothing was submitted",
                    originNode: local.name, taskID: request.taskID)
            }
        }
        // Frames are cut by an upper bound of each task's size (every field counts, the idempotency
        // key too); each frame's tasks are serialized when it is sent, so a large submit never
        // holds all of them serialized at once.
        let specs = makeSpecs(requests)
        let (chunks, oversized) = FrameBudget.chunks(
            specs, maximumFrameBytes: coordinator.maximumFrameBytes - BatchFrame.submitFieldsBytes,
            maximumCount: min(Self.batchSize, max(1, settings.maximumBatchCount))
        ) {
            $0.estimatedWireBytes + BatchFrame.perElementOverheadBytes
        }
        if let first = oversized.first {
            throw ErrorContext(
                code: .invalidArgument,
                message: "task '\(first.taskID)' takes up to \(first.estimatedWireBytes) bytes on the wire, more than fits one frame of the coordinator's (limits.max_frame_bytes = \(coordinator.maximumFrameBytes)); \(oversized.count) task(s) are that large; shorten their ids, keys or payloads; nothing was submitted",
                originNode: local.name, taskID: first.taskID)
        }
        // Up to `batchesInFlight` frames wait for their acknowledgement at once, so the
        // coordinator's group commit (the acknowledgement waits for its fsync) is not paid once per frame.
        var inFlight: [SubmitFrame] = []
        var inFlightHead = 0
        var tally = SubmitTally()
        do {
            for chunk in chunks where tally.refusal == nil {
                let trace = TraceContext.current?.childSpan() ?? .newTrace()
                inFlight.append(try sendFrame(chunk, trace: trace, retryUntil: ContinuousClock.now + settings.overloadRetryWindow))
                // After a refusal, and after the last frame, the frames already sent are still
                // waited out, so the count of accepted tasks is exact.
                while inFlightHead < inFlight.count,
                    inFlight.count - inFlightHead >= Self.batchesInFlight || tally.refusal != nil || inFlight.count == chunks.count
                {
                    tally.add(try await settled(inFlight[inFlightHead]), of: inFlight[inFlightHead].specs)
                    inFlightHead += 1
                }
            }
        } catch var error as ErrorContext {
            let unknown = inFlight[inFlightHead...].reduce(0) { $0 + $1.specs.count }
            if tally.accepted > 0 || unknown > 0 {
                error.message = "\(tally.accepted) of \(requests.count) tasks were acknowledged (and will run) before the connection was lost; the \(unknown) tasks in flight may have been accepted too: \(error.message)"
            }
            throw error
        }
        if var refusal = tally.refusal {
            if tally.accepted > 0 {
                let refused = tally.refusedIDs.count
                let named = tally.refusedIDs.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (refused > 5 ? ", …" : "")
                refusal.message = "\(tally.accepted) of \(requests.count) tasks were accepted (and will run); \(refused) were refused (\(named))\(tally.accepted + refused < requests.count ? " and \(requests.count - tally.accepted - refused) not sent" : ""): \(refusal.message)"
            }
            throw refusal
        }
        return SubmitReceipt(accepted: tally.accepted, duplicates: tally.duplicates)
    }

    /// What the acknowledgements of one submit said so far.
    private struct SubmitTally {
        var accepted = 0
        var duplicates = 0
        var refusal: ErrorContext?
        var refusedIDs: [String] = []

        mutating func add(_ outcome: Result<Int, ErrorContext>, of specs: [Phalanx_V1_TaskSpec]) {
            switch outcome {
            case .success(let duplicates):
                accepted += specs.count
                self.duplicates += duplicates
            case .failure(let error):
                refusal = refusal ?? error
                refusedIDs += specs.map(\.taskID)
            }
        }
    }

    /// Which of `taskIDs` this connection still expects an outcome for: after a submit that threw,
    /// the tasks that were accepted, or may have been (in flight when the connection ended), and
    /// not those refused or never sent.
    public func awaiting(_ taskIDs: some Sequence<String>) -> [String] {
        taskIDs.filter { unfinished.contains($0) || arrived.contains($0) }
    }

    /// The outcome of a submitted task, waiting for it if needed.
    public func outcome(of taskID: String) async -> TaskOutcome {
        switch arrived.take(taskID) {
        case .outcome(let outcome)?:
            return outcome
        case .evicted?:
            return await outcomeAskedForAgain(taskID)
        case nil:
            break
        }
        if let closedError {
            unfinished.remove(taskID)
            return .failed(taskID, closedError)
        }
        guard unfinished.contains(taskID) else {
            return failed(
                taskID, .invalidArgument,
                "task '\(taskID)' has no outcome to wait for on this connection: it was not submitted here, its outcome was already taken, or it was discarded because \(arrived.maximumCount) outcomes nobody asked for filled the buffer")
        }
        guard waitingOutcomes[taskID] == nil else {
            return failed(taskID, .invalidArgument, "the outcome of task '\(taskID)' is already being awaited elsewhere")
        }
        return await withCheckedContinuation { waitingOutcomes[taskID] = $0 }
    }

    /// The outcome of a task whose bytes the buffer gave up (more than its byte bound of outcomes
    /// arrived before anyone asked for them): the coordinator keeps every result, so it is asked
    /// for again.
    private func outcomeAskedForAgain(_ taskID: String) async -> TaskOutcome {
        do {
            let lookup = try await attach([taskID])
            if lookup.unknown.contains(taskID) {
                return failed(
                    taskID, .unavailable,
                    "task '\(taskID)' finished, but its outcome arrived while \(arrived.maximumBytes) bytes of outcomes nobody had asked for filled this client's buffer, and the coordinator no longer has it (pruned after coordinator.retention_ms, or another data directory)")
            }
        } catch {
            if let error = error as? ErrorContext { return .failed(taskID, error) }
            return failed(taskID, .unavailable, "cannot ask the coordinator again for the outcome of task '\(taskID)': \(error)")
        }
        return await outcome(of: taskID)
    }

    /// A failure this client makes for `taskID` (it never ran, as far as this connection knows).
    private func failed(_ taskID: String, _ code: ErrorCode, _ message: String) -> TaskOutcome {
        .failed(taskID, ErrorContext(code: code, message: message, originNode: local.name, taskID: taskID))
    }

    /// Submits `requests` and waits for every outcome, in the order of `requests`.
    public func run(_ requests: [TaskRequest]) async throws -> [TaskOutcome] {
        try await submit(requests)
        var outcomes: [TaskOutcome] = []
        outcomes.reserveCapacity(requests.count)
        for request in requests { outcomes.append(await outcome(of: request.taskID)) }
        return outcomes
    }

    /// Asks for the outcomes of tasks submitted under this client's certificate name, by any
    /// process and also before a coordinator restart (re-attaching). Finished ones are available
    /// through ``outcome(of:)`` when this returns; pending ones are attached to this connection
    /// and their outcomes come when they finish; unknown ones (never accepted, or pruned after the
    /// coordinator's retention) have none.
    public func attach(_ taskIDs: [String]) async throws -> ResultLookup {
        var total = ResultLookup(pending: [], unknown: [])
        for chunk in try idBatches(taskIDs) {
            if let closedError { throw closedError }
            nextRequestID += 1
            let requestID = nextRequestID
            var request = Phalanx_V1_ResultRequest()
            request.requestID = requestID
            request.taskIds = chunk
            for taskID in chunk { unfinished.insert(taskID) }
            outbound.send(Phalanx_V1_Envelope(.resultRequest(request)))
            let lookup = try await withCheckedThrowingContinuation { waiter in
                waitingLookups[requestID] = (ResultLookup(pending: [], unknown: []), waiter)
            }
            for taskID in lookup.unknown { unfinished.remove(taskID) }
            total.pending += lookup.pending
            total.unknown += lookup.unknown
        }
        return total
    }

    /// Cancels tasks submitted under this client's certificate name (by any process). Queued ones
    /// finish `CANCELLED` without running; running ones have their handler cancelled on the worker.
    /// Their outcomes come as usual (to whoever waits for them).
    public func cancel(_ taskIDs: [String]) async throws -> CancelOutcome {
        var total = CancelOutcome(cancelled: [], notRunning: [])
        for chunk in try idBatches(taskIDs) {
            if let closedError { throw closedError }
            nextRequestID += 1
            let requestID = nextRequestID
            var request = Phalanx_V1_CancelRequest()
            request.requestID = requestID
            request.taskIds = chunk
            outbound.send(Phalanx_V1_Envelope(.cancelRequest(request)))
            let reply = try await withCheckedThrowingContinuation { waitingCancels[requestID] = $0 }
            total.cancelled += reply.cancelled
            total.notRunning += reply.notRunning
        }
        return total
    }

    /// Lists the dead-letter queue, or retries or purges tasks in it (admin certificate). Returns the
    /// entries listed, retried or purged (as many as fit this client's frames, the rest counted), and
    /// the named tasks that were not in the queue.
    ///
    /// Named tasks go in requests cut so that each request, and its reply (which names the
    /// missing ones again), fits the frame limits of both ends.
    public func deadLetters(_ action: DeadLetterAction) async throws -> DeadLetterReport {
        if let closedError { throw closedError }
        var request = Phalanx_V1_DeadLetterRequest()
        let keys: [DeadLetterEntry.Key]
        switch action {
        case .list: request.action = .list; keys = []
        case .retry(let named): request.action = .retry; keys = named
        case .retryAll: request.action = .retry; request.all = true; keys = []
        case .purge(let named): request.action = .purge; keys = named
        case .purgeAll: request.action = .purge; request.all = true; keys = []
        }
        let wireKeys = keys.map { key in
            var wire = Phalanx_V1_DeadLetterKey()
            wire.client = key.client
            wire.taskID = key.taskID
            return wire
        }
        // The coordinator fills up to half of the reply with entries; the missing keys share the other half.
        let (chunks, oversized) = FrameBudget.chunks(wireKeys, maximumFrameBytes: requestFrameBytes / 2, maximumCount: Self.lookupBatchSize) {
            $0.client.utf8.count + $0.taskID.utf8.count + 16
        }
        if let first = oversized.first {
            throw ErrorContext(code: .invalidArgument, message: "task id '\(first.taskID.prefix(64))…' is longer than any task id can be", originNode: local.name)
        }
        var report = DeadLetterReport()
        for chunk in chunks.isEmpty ? [[]] : chunks {
            if let closedError { throw closedError }
            nextRequestID += 1
            request.requestID = nextRequestID
            request.tasks = chunk
            let requestID = request.requestID
            outbound.send(Phalanx_V1_Envelope(.deadLetterRequest(request)))
            let reply = try await withCheckedThrowingContinuation { waitingDeadLetters[requestID] = $0 }
            if reply.hasError { throw ErrorContext(wire: reply.error) }
            report.entries += reply.entries.map {
                DeadLetterEntry(
                    key: .init(client: $0.key.client, taskID: $0.key.taskID), kind: $0.kind, code: $0.code, reason: $0.reason,
                    attempts: $0.attempts, deadUnixMilliseconds: $0.deadUnixMs)
            }
            report.omitted += Int(reply.entriesOmitted)
            report.missing += reply.missing.map { .init(client: $0.client, taskID: $0.taskID) }
        }
        return report
    }

    /// The largest request whose reply repeats what it names: it must fit the coordinator's frames
    /// on the way there and this client's own frames on the way back.
    private var requestFrameBytes: Int { min(coordinator.maximumFrameBytes, ownFrameBytes) }

    /// `taskIDs` without repeats, in requests of at most ``lookupBatchSize`` that fit the frame
    /// limits of both ends (the reply names them again); an id no frame could carry is refused.
    private func idBatches(_ taskIDs: [String]) throws(ErrorContext) -> [[String]] {
        var seen = Set<String>()
        let ids = taskIDs.filter { seen.insert($0).inserted }
        let (chunks, oversized) = FrameBudget.chunks(ids, maximumFrameBytes: requestFrameBytes, maximumCount: Self.lookupBatchSize) {
            $0.utf8.count + 8
        }
        if let first = oversized.first {
            throw ErrorContext(code: .invalidArgument, message: "task id '\(first.prefix(64))…' is longer than any task id can be", originNode: local.name)
        }
        return chunks
    }

    /// Task ids per result or cancel request at most (requests are also cut by bytes).
    public static let lookupBatchSize = TaskLimits.maximumTaskIDsPerRequest

    /// Whether the connection to the coordinator has ended (outcomes not yet arrived will not come on it).
    public var isClosed: Bool { closedError != nil }

    /// Asks the coordinator for the cluster's status.
    public func status() async throws -> ClusterStatus {
        if let closedError { throw closedError }
        outbound.send(Phalanx_V1_Envelope(.statusRequest(Phalanx_V1_StatusRequest())))
        return try await withCheckedThrowingContinuation { waitingStatus.append($0) }
    }

    /// Lists the per-worker circuit breakers, or forces one open or closed (admin certificate).
    public func breakers(_ action: BreakerAction = .list) async throws -> [WorkerBreaker] {
        if let closedError { throw closedError }
        var command = Phalanx_V1_BreakerCommand()
        switch action {
        case .list: command.action = .list
        case .open(let worker):
            command.action = .open
            command.worker = worker
        case .close(let worker):
            command.action = .close
            command.worker = worker
        }
        outbound.send(Phalanx_V1_Envelope(.breakerCommand(command)))
        let reply = try await withCheckedThrowingContinuation { waitingBreakers.append($0) }
        if reply.hasError { throw ErrorContext(wire: reply.error) }
        return reply.breakers.map { WorkerBreaker(worker: $0.worker, state: $0.state) }
    }

    /// Asks worker `name` to drain and stop (admin certificate).
    public func drain(worker name: String) async throws {
        if let closedError { throw closedError }
        var request = Phalanx_V1_DrainRequest()
        request.worker = name
        outbound.send(Phalanx_V1_Envelope(.drainRequest(request)))
        let reply = try await withCheckedThrowingContinuation { waitingDrains.append($0) }
        if reply.hasError { throw ErrorContext(wire: reply.error) }
    }

    // MARK: - For requests defined in other files

    func ensureOpen() throws(ErrorContext) {
        if let closedError { throw closedError }
    }

    /// An id for a transaction or saga started without one.
    func takeUnnamedID() -> String { unnamedIDs.next() }

    /// A new trace for a transaction or saga request.
    func takeTrace() -> TraceContext { .newTrace(using: &traceIDs) }

    func takeRequestID() -> UInt64 {
        nextRequestID += 1
        return nextRequestID
    }

    func write(_ envelope: Phalanx_V1_Envelope) {
        outbound.send(envelope)
    }

    /// Sends `envelope` if its frame fits the coordinator's frame limit, serialized once: the
    /// size is measured on the bytes that are sent (serializing to measure, then again to send,
    /// was a tenth of a bank run's client CPU). Refused before anything is sent otherwise.
    func sendIfItFits(_ envelope: Phalanx_V1_Envelope) throws(ErrorContext) {
        let body = (try? envelope.serializedBytes() as [UInt8]) ?? []
        // The limit is on the frame's declared length, the serialized envelope (as the receiver checks it).
        if body.count > coordinator.maximumFrameBytes {
            throw ErrorContext(
                code: .invalidArgument,
                message: "the request is \(body.count) bytes, more than the coordinator's frame limit of \(coordinator.maximumFrameBytes) bytes; send fewer or smaller operations",
                originNode: local.name)
        }
        outbound.send(.framed(FrameEncoder.frame(body: body, allocator: channel.allocator)))
    }

    func registerTransactionWaiter(_ requestID: UInt64, _ waiter: CheckedContinuation<Phalanx_V1_TxReply, any Error>) {
        if let closedError { return waiter.resume(throwing: closedError) }
        waitingTransactions[requestID] = waiter
    }

    func registerShowWaiter(_ requestID: UInt64, _ waiter: CheckedContinuation<Phalanx_V1_TxShowReply, any Error>) {
        if let closedError { return waiter.resume(throwing: closedError) }
        waitingShows[requestID] = waiter
    }

    func registerSagaWaiter(_ requestID: UInt64, _ waiter: CheckedContinuation<Phalanx_V1_SagaReply, any Error>) {
        if let closedError { return waiter.resume(throwing: closedError) }
        waitingSagas[requestID] = waiter
    }

    func registerAuditWaiter(_ requestID: UInt64, _ waiter: CheckedContinuation<Phalanx_V1_AuditReply, any Error>) {
        if let closedError { return waiter.resume(throwing: closedError) }
        waitingAudits[requestID] = waiter
    }

    /// Closes the connection (after what was sent has left).
    public func close() async {
        keepAlive?.cancel()
        await outbound.close()  // first: cancelling the reader closes the channel at once
        reader?.cancel()
    }

    // MARK: - Internals

    private func makeSpecs(_ requests: [TaskRequest]) -> [Phalanx_V1_TaskSpec] {
        var ids = TraceIDGenerator()
        let parent = TraceContext.current
        // Requests that share one payload array (`submit --count N`) share one copy of it: a copy
        // each held N copies of a 4 MiB payload until the submit was acknowledged (1.6 GB for 300).
        var shared: (array: [UInt8], data: Data)?
        return requests.map { request in
            let payload: Data
            if let shared, Self.sameStorage(shared.array, request.payload) {
                payload = shared.data
            } else {
                payload = Data(request.payload)
                shared = (request.payload, payload)
            }
            var spec = Phalanx_V1_TaskSpec(
                taskID: request.taskID, kind: request.kind, payload: payload, trace: parent?.childSpan(using: &ids) ?? .newTrace(using: &ids),
                deadlineUnixMilliseconds: WireTime.deadlineUnixMilliseconds(after: request.timeout))
            spec.maxAttempts = UInt32(clamping: request.maxAttempts ?? 0)
            spec.idempotencyKey = request.idempotencyKey ?? ""
            switch request.priority {
            case .high: spec.priority = .high
            case .normal: spec.priority = .normal
            case .low: spec.priority = .low
            }
            return spec
        }
    }

    /// Whether two arrays are one buffer (a copy that was never written to).
    private static func sameStorage(_ first: [UInt8], _ second: [UInt8]) -> Bool {
        first.count == second.count && first.withUnsafeBufferPointer { a in second.withUnsafeBufferPointer { $0.baseAddress == a.baseAddress } }
    }

    /// A submit frame written and not yet acknowledged.
    private struct SubmitFrame {
        let specs: [Phalanx_V1_TaskSpec]
        var requestID: UInt64
        var trace: TraceContext
        let retryUntil: ContinuousClock.Instant
    }

    private func sendFrame(_ specs: [Phalanx_V1_TaskSpec], trace: TraceContext, retryUntil: ContinuousClock.Instant) throws -> SubmitFrame {
        if let closedError { throw closedError }
        nextRequestID += 1
        var wireTrace = Phalanx_V1_TraceContext()
        wireTrace.traceID = trace.traceID
        wireTrace.spanID = trace.spanID
        for spec in specs { unfinished.insert(spec.taskID) }
        acks.open(nextRequestID)
        // Each task serialized on its own (sized once, not once per level of nesting).
        outbound.send(.framed(BatchFrame.submit(requestID: nextRequestID, tasks: specs.map(BatchFrame.serialized), trace: wireTrace)))
        return SubmitFrame(specs: specs, requestID: nextRequestID, trace: trace, retryUntil: retryUntil)
    }

    /// Waits for `frame`'s acknowledgement, sending it again after an `OVERLOADED` refusal within
    /// its retry window. Returns how many of its tasks were idempotent duplicates when accepted, or
    /// the refusal (its tasks then fail with it). Throws when the connection ends first: whether the
    /// frame was accepted is then unknown.
    private func settled(_ frame: SubmitFrame) async throws -> Result<Int, ErrorContext> {
        var frame = frame
        while true {
            if let closedError { throw closedError }
            let requestID = frame.requestID
            let ack = try await withCheckedThrowingContinuation { waiter in
                if let ack = acks.take(requestID, orWait: waiter) { waiter.resume(returning: ack) }
            }
            guard ack.hasError else { return .success(Int(ack.duplicates)) }
            let error = ErrorContext(wire: ack.error)
            guard error.code == .overloaded, ContinuousClock.now < frame.retryUntil else {
                for spec in frame.specs {
                    unfinished.remove(spec.taskID)
                    waitingOutcomes.removeValue(forKey: spec.taskID)?.resume(
                        returning: .failed(spec.taskID, error))
                }
                return .failure(error)
            }
            let wait = min(error.retryAfter ?? .milliseconds(200), frame.retryUntil - ContinuousClock.now)
            settings.onOverloadRetry?(error, wait)
            try await Task.sleep(for: max(wait, .milliseconds(1)))
            frame = try sendFrame(frame.specs, trace: frame.trace.childSpan(), retryUntil: frame.retryUntil)
        }
    }

    private func start() {
        let peer = self.peer
        // The reader runs on the connection's event loop: a reply is handled without a thread hop.
        reader = Task(executorPreference: EventLoopTaskExecutor(channel.eventLoop)) {
            var failure: ErrorContext?
            do {
                try await peer.channel.executeThenClose { inbound, _ in
                    for try await envelope in inbound { await self.received(envelope) }
                }
            } catch let error as ErrorContext {
                failure = error
            } catch {
                failure = ErrorContext(code: .unavailable, message: "the connection to the coordinator failed: \(ConnectionErrorText.describe(error))")
            }
            await self.connectionEnded(failure ?? ErrorContext(code: .unavailable, message: "the connection to the coordinator ended (it closed it, stopped, or the network failed)"))
        }
        // The documented keep-alive: a Heartbeat at a third of the coordinator's idle timeout.
        if let interval = coordinator.keepAliveInterval {
            let channel = channel
            let outbound = outbound
            keepAlive = Task {
                while (try? await Task.sleep(for: interval)) != nil, channel.isActive {
                    outbound.send(Phalanx_V1_Envelope(.heartbeat(Phalanx_V1_Heartbeat())))
                }
            }
        }
    }

    private func received(_ envelope: Phalanx_V1_Envelope) {
        switch envelope.body {
        case .submitAck(let ack):
            acks.arrived(ack.requestID, ack)
        case .results(let batch):
            resultsReceived += batch.results.count
            for result in batch.results { arrived(TaskOutcome(wire: result)) }
        case .statusReply(let reply):
            guard !waitingStatus.isEmpty else { return }
            waitingStatus.removeFirst().resume(returning: ClusterStatus(wire: reply))
        case .breakerReply(let reply):
            guard !waitingBreakers.isEmpty else { return }
            waitingBreakers.removeFirst().resume(returning: reply)
        case .drainReply(let reply):
            guard !waitingDrains.isEmpty else { return }
            waitingDrains.removeFirst().resume(returning: reply)
        case .deadLetterReply(let reply):
            waitingDeadLetters.removeValue(forKey: reply.requestID)?.resume(returning: reply)
        case .cancelReply(let reply):
            waitingCancels.removeValue(forKey: reply.requestID)?.resume(returning: reply)
        case .txReply(let reply):
            waitingTransactions.removeValue(forKey: reply.requestID)?.resume(returning: reply)
        case .txShowReply(let reply):
            guard let whole = showParts.add(reply) else { return }
            waitingShows.removeValue(forKey: reply.requestID)?.resume(returning: whole)
        case .auditReply(let reply):
            waitingAudits.removeValue(forKey: reply.requestID)?.resume(returning: reply)
        case .sagaReply(let reply):
            waitingSagas.removeValue(forKey: reply.requestID)?.resume(returning: reply)
        case .resultReply(let reply):
            guard var entry = waitingLookups[reply.requestID] else { return }
            entry.lookup.pending += reply.pending
            entry.lookup.unknown += reply.unknown
            if reply.hasError {
                waitingLookups[reply.requestID] = nil
                entry.waiter.resume(throwing: ErrorContext(wire: reply.error))
            } else if reply.done {
                waitingLookups[reply.requestID] = nil
                entry.waiter.resume(returning: entry.lookup)
            } else {
                waitingLookups[reply.requestID] = entry
            }
        default:
            break  // heartbeats only keep the connection alive
        }
    }

    private func arrived(_ outcome: TaskOutcome) {
        guard unfinished.remove(outcome.taskID) != nil else { return }  // not ours, or a duplicate
        if let waiter = waitingOutcomes.removeValue(forKey: outcome.taskID) {
            waiter.resume(returning: outcome)
        } else {
            arrived.insert(outcome)
        }
    }

    private func connectionEnded(_ error: ErrorContext) {
        closedError = error
        keepAlive?.cancel()
        acks.failAll(error)
        for (taskID, waiter) in waitingOutcomes {
            waiter.resume(returning: .failed(taskID, error))
        }
        waitingOutcomes.removeAll()
        for waiter in waitingStatus { waiter.resume(throwing: error) }
        waitingStatus.removeAll()
        for waiter in waitingBreakers { waiter.resume(throwing: error) }
        waitingBreakers.removeAll()
        for waiter in waitingDrains { waiter.resume(throwing: error) }
        waitingDrains.removeAll()
        for (_, waiter) in waitingTransactions { waiter.resume(throwing: error) }
        waitingTransactions.removeAll()
        for (_, waiter) in waitingShows { waiter.resume(throwing: error) }
        waitingShows.removeAll()
        showParts = ShowReplyAssembly()
        for (_, waiter) in waitingAudits { waiter.resume(throwing: error) }
        waitingAudits.removeAll()
        for (_, waiter) in waitingSagas { waiter.resume(throwing: error) }
        waitingSagas.removeAll()
        for (_, waiter) in waitingDeadLetters { waiter.resume(throwing: error) }
        waitingDeadLetters.removeAll()
        for (_, waiter) in waitingCancels { waiter.resume(throwing: error) }
        waitingCancels.removeAll()
        for (_, entry) in waitingLookups { entry.waiter.resume(throwing: error) }
        waitingLookups.removeAll()
    }
}
