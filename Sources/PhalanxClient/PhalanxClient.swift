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
/// Tasks are sent in batches (one frame per batch); outcomes come back in batches too.
public actor PhalanxClient {
    private let peer: PeerChannel
    private let channel: any Channel
    private let local: NodeIdentity
    private var nextRequestID: UInt64 = 0
    private var waitingAcks: [UInt64: CheckedContinuation<UInt32, any Error>] = [:]
    private var waitingOutcomes: [String: CheckedContinuation<TaskOutcome, Never>] = [:]
    private var arrivedOutcomes: [String: TaskOutcome] = [:]
    private var waitingStatus: [CheckedContinuation<ClusterStatus, any Error>] = []
    private var closedError: ErrorContext?
    /// Results received since connecting (each task reports once; a higher count means a duplicate).
    public private(set) var resultsReceived = 0
    private var reader: Task<Void, Never>?

    /// Tasks per submit frame.
    public static let batchSize = 1_000

    private init(peer: PeerChannel, local: NodeIdentity) {
        self.peer = peer
        self.channel = peer.channel.channel
        self.local = local
    }

    /// Connects with the client certificate in `tls` and completes the Hello exchange.
    public static func connect(
        host: String, port: Int, tls: TLSFiles, limits: ConnectionLimits = ConnectionLimits(),
        logger: Logger = Logger(label: "phalanx.client")
    ) async throws -> PhalanxClient {
        let context = try tls.makeClientContext()
        let local = try tls.localIdentity()
        let (peer, _) = try await PhalanxDialer.connect(host: host, port: port, tlsContext: context, local: local, limits: limits, logger: logger)
        let client = PhalanxClient(peer: peer, local: local)
        await client.startReading()
        return client
    }

    /// This client's identity (from its certificate).
    public nonisolated var identity: NodeIdentity { local }

    /// Submits `requests` and returns once the coordinator has accepted them (not when they finish).
    /// Tasks refused at submission (invalid, overloaded) come back as failed outcomes.
    public func submit(_ requests: [TaskRequest]) async throws {
        var seen = Set<String>()
        for request in requests where !seen.insert(request.taskID).inserted {
            throw ErrorContext(
                code: .invalidArgument,
                message: "task id '\(request.taskID)' appears twice in one submission; give every task its own id")
        }
        for start in stride(from: 0, to: requests.count, by: Self.batchSize) {
            let chunk = requests[start..<min(start + Self.batchSize, requests.count)]
            _ = try await sendBatch(chunk)
        }
    }

    /// The outcome of a submitted task, waiting for it if needed.
    public func outcome(of taskID: String) async -> TaskOutcome {
        if let arrived = arrivedOutcomes.removeValue(forKey: taskID) { return arrived }
        if let closedError { return TaskOutcome(taskID: taskID, worker: nil, attempt: 0, result: .failure(closedError)) }
        guard waitingOutcomes[taskID] == nil else {
            return TaskOutcome(
                taskID: taskID, worker: nil, attempt: 0,
                result: .failure(ErrorContext(code: .invalidArgument, message: "the outcome of task '\(taskID)' is already being awaited elsewhere")))
        }
        return await withCheckedContinuation { waitingOutcomes[taskID] = $0 }
    }

    /// Submits `requests` and waits for every outcome, in the order of `requests`.
    public func run(_ requests: [TaskRequest]) async throws -> [TaskOutcome] {
        try await submit(requests)
        var outcomes: [TaskOutcome] = []
        outcomes.reserveCapacity(requests.count)
        for request in requests { outcomes.append(await outcome(of: request.taskID)) }
        return outcomes
    }

    /// Asks the coordinator for the cluster's status.
    public func status() async throws -> ClusterStatus {
        if let closedError { throw closedError }
        let envelope = Phalanx_V1_Envelope(.statusRequest(Phalanx_V1_StatusRequest()))
        channel.writeAndFlush(envelope, promise: nil)
        return try await withCheckedThrowingContinuation { waitingStatus.append($0) }
    }

    /// Closes the connection.
    public func close() async {
        reader?.cancel()
        try? await channel.close()
    }

    // MARK: - Internals

    private func sendBatch(_ requests: ArraySlice<TaskRequest>) async throws -> UInt32 {
        if let closedError { throw closedError }
        nextRequestID += 1
        let requestID = nextRequestID
        var batch = Phalanx_V1_SubmitBatch()
        batch.requestID = requestID
        var ids = TraceIDGenerator()
        let parent = TraceContext.current
        batch.tasks = requests.map { request in
            var spec = Phalanx_V1_TaskSpec()
            spec.taskID = request.taskID
            spec.kind = request.kind
            spec.payload = Data(request.payload)
            let trace = parent?.childSpan(using: &ids) ?? .newTrace(using: &ids)
            spec.trace.traceID = trace.traceID
            spec.trace.spanID = trace.spanID
            spec.deadlineUnixMs = WireTime.deadlineUnixMilliseconds(after: request.timeout)
            return spec
        }
        let envelope = Phalanx_V1_Envelope(.submit(batch))
        channel.writeAndFlush(envelope, promise: nil)
        return try await withCheckedThrowingContinuation { waitingAcks[requestID] = $0 }
    }

    private func startReading() {
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
                failure = ErrorContext(code: .unavailable, message: "the connection to the coordinator failed: \(error)")
            }
            await self.connectionEnded(failure ?? ErrorContext(code: .unavailable, message: "the coordinator closed the connection"))
        }
    }

    private func received(_ envelope: Phalanx_V1_Envelope) {
        switch envelope.body {
        case .submitAck(let ack):
            guard let waiter = waitingAcks.removeValue(forKey: ack.requestID) else { return }
            if ack.hasError { waiter.resume(throwing: ErrorContext(wire: ack.error)) } else { waiter.resume(returning: ack.accepted) }
        case .results(let batch):
            resultsReceived += batch.results.count
            for result in batch.results { arrived(TaskOutcome(wire: result)) }
        case .statusReply(let reply):
            guard !waitingStatus.isEmpty else { return }
            waitingStatus.removeFirst().resume(returning: ClusterStatus(wire: reply))
        default:
            break
        }
    }

    private func arrived(_ outcome: TaskOutcome) {
        if let waiter = waitingOutcomes.removeValue(forKey: outcome.taskID) {
            waiter.resume(returning: outcome)
        } else {
            arrivedOutcomes[outcome.taskID] = outcome
        }
    }

    private func connectionEnded(_ error: ErrorContext) {
        closedError = error
        for (_, waiter) in waitingAcks { waiter.resume(throwing: error) }
        waitingAcks.removeAll()
        for (taskID, waiter) in waitingOutcomes {
            waiter.resume(returning: TaskOutcome(taskID: taskID, worker: nil, attempt: 0, result: .failure(error)))
        }
        waitingOutcomes.removeAll()
        for waiter in waitingStatus { waiter.resume(throwing: error) }
        waitingStatus.removeAll()
    }
}

extension TaskOutcome {
    init(wire: Phalanx_V1_TaskResult) {
        let result: Result<[UInt8], ErrorContext>
        switch wire.outcome {
        case .output(let data): result = .success(Array(data))
        case .error(let error): result = .failure(ErrorContext(wire: error))
        case nil: result = .failure(ErrorContext(code: .internal, message: "a result arrived with neither output nor error"))
        }
        self.init(taskID: wire.taskID, worker: wire.worker.isEmpty ? nil : wire.worker, attempt: wire.attempt, result: result)
    }
}

extension ClusterStatus {
    init(wire: Phalanx_V1_StatusReply) {
        self.init(
            coordinator: wire.coordinator,
            workers: wire.workers.map {
                Worker(name: $0.name, capacity: $0.capacity, inFlight: $0.inFlight, kinds: $0.kinds, finished: $0.finished)
            },
            tasksAccepted: wire.tasksAccepted, tasksSucceeded: wire.tasksSucceeded, tasksFailed: wire.tasksFailed,
            tasksQueued: wire.tasksQueued, tasksRunning: wire.tasksRunning)
    }
}
